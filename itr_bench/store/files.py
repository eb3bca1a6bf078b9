"""Reading the JSON files a run store holds, and keeping every write inside its root.

Records, failure notes, checkpoint states and cached metrics are read back by the leaderboard,
``evaluate`` and the resume loop; a damaged one (not UTF-8, truncated, a list where a table
belongs, a folder where a file belongs) must be one line naming the file, never a traceback.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..errors import ItrBenchError

_KINDS = {dict: "a JSON object", list: "a JSON list", str: "a JSON string", int: "a JSON integer",
          float: "a JSON number", bool: "a JSON boolean", type(None): "null"}


def read_json_file(path: Path | str, expect: type | tuple[type, ...] = dict) -> Any:
    """The parsed content of ``path``, which must be a readable JSON file holding an ``expect``.

    Every way the file can be damaged raises :class:`ItrBenchError` with the path and the cause.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ItrBenchError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ItrBenchError(f"{path}: is a folder, not a JSON file") from None
    except UnicodeDecodeError as exc:
        raise ItrBenchError(f"{path}: damaged: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ItrBenchError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ItrBenchError(f"{path}: damaged: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise ItrBenchError(f"{path}: damaged: JSON nested too deeply") from None
    if not isinstance(data, expect):
        wanted = " or ".join(_KINDS.get(t, t.__name__) for t in (expect if isinstance(expect, tuple) else (expect,)))
        raise ItrBenchError(f"{path}: damaged: expected {wanted}, got {_KINDS.get(type(data), type(data).__name__)}")
    return data


def number_table(value: Any, path: Path | str, key: str, *, finite: bool = False) -> dict[str, float]:
    """``value`` as a ``{name: number}`` table (metrics); anything else names ``path`` and ``key``."""
    if not isinstance(value, dict):
        raise ItrBenchError(f"{path}: {key}: expected a table of numbers, got {_KINDS.get(type(value), type(value).__name__)}")
    for name, number in value.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise ItrBenchError(f"{path}: {key}.{name}: expected a number, got {number!r}")
        if finite and not math.isfinite(number):
            raise ItrBenchError(f"{path}: {key}.{name}: expected a finite number, got {number!r}")
    return {str(name): float(number) for name, number in value.items()}


def ensure_inside(root: Path | str, path: Path | str, what: str = "write") -> Path:
    """``path`` itself, after checking that it resolves inside ``root`` (symlinks followed).

    The last line of defence behind name validation: a name that slips through can still never
    make a write land outside the folder the user chose.
    """
    root, path = Path(root), Path(path)
    resolved_root, resolved = root.resolve(), path.resolve()
    if resolved != resolved_root and not resolved.is_relative_to(resolved_root):
        raise ItrBenchError(f"{path}: refusing to {what} outside {root} (it resolves to {resolved})")
    return path
