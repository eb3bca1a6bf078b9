"""Atomic file writes: a reader sees the old file or the new one, never half of one.

A write goes to a hidden temporary beside its target (``.<name>.<8 random chars>``) that is
renamed over it; a process killed mid-write leaves that temporary behind, never a half file.
:func:`remove_temporaries` clears such leftovers, and no reader ever counts them: none is
named like a result.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

#: Hidden entries a killed write leaves: ``.<name>.<8 random chars>`` from :mod:`tempfile`
#: (atomic files, checkpoint folders being built) and ``.<name>.old`` (a checkpoint being replaced).
TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<suffix>[a-z0-9_]{8}|old)$")


def write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, flush it to disk, rename it over.

    A failure (a full disk, a read-only folder) leaves the previous ``path`` untouched and is
    an :class:`OSError` that names ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)  # its error names the folder it could not make
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise _naming(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _naming(exc, path) from None
        raise


def _naming(exc: OSError, path: Path) -> OSError:
    """``exc`` naming ``path``, the file the user knows of, not its temporary (or nothing: ``write``)."""
    return type(exc)(exc.errno, exc.strerror or str(exc), str(path))


def write_text(path: Path | str, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: Path | str, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def remove_temporaries(folder: Path | str, only: str | None = None) -> list[Path]:
    """Remove the temporaries killed writes left in ``folder`` (of ``only`` that name); returns them.

    Call it only while no other process writes there (hold the folder's lock). A ``.<name>.old``
    whose ``<name>`` is missing is a checkpoint a save replaced and was killed before renaming
    the new one into place: it is renamed back, not removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for entry in sorted(folder.iterdir()):
        match = TEMPORARY.match(entry.name)
        if not match or only is not None and match["name"] != only:
            continue
        final = folder / match["name"]
        if match["suffix"] == "old" and not final.exists():
            entry.rename(final)
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
        removed.append(entry)
    return removed
