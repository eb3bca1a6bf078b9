"""Errors the user can act on.

Every exception here is a *user* error: the CLI prints its message as one line and exits 2.
Anything else that escapes is a bug and is shown with its traceback.
"""

from __future__ import annotations

import difflib
import errno
from collections.abc import Iterable


class ItrBenchError(Exception):
    """Base class: a problem with the user's input, files, config or plugins."""

    exit_code = 2


class PluginError(ItrBenchError):
    """A plugin could not be imported, failed a hook, or implements an unknown hook."""


class RegistryError(ItrBenchError):
    """A component was registered wrongly (bad name, non-callable factory, duplicate)."""


class DuplicateComponentError(RegistryError):
    """Two plugins registered the same (kind, name)."""


class UnknownComponentError(RegistryError, KeyError):
    """A name was looked up that no plugin registered."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class ConfigError(ItrBenchError):
    """A config, suite or data file is malformed; the message names the file."""


def close_matches(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Names in ``candidates`` that look like a misspelling of ``name``."""
    return difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.6)


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A short suffix for an error message: close names, else the available ones."""
    candidates = sorted(candidates)
    close = close_matches(name, candidates)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    if not candidates:
        return "none are registered"
    shown = ", ".join(candidates[:12]) + (", ..." if len(candidates) > 12 else "")
    return f"available: {shown}"


class StaleRunError(ItrBenchError):
    """A run folder holds results or a checkpoint trained under a config other than the planned one."""


class DamagedRunError(ItrBenchError):
    """A run folder's record or checkpoint cannot be read; the message names what to delete."""


class RunBusyError(ItrBenchError):
    """Another live process owns the run folder (holds its lock)."""


#: What a user can do about an OS error, by errno; the rest get the system's wording.
_OS_CAUSES = {
    errno.ENOSPC: "no space left on device (free some and rerun: what was written is kept, runs resume)",
    errno.EDQUOT: "disk quota exceeded (free some and rerun: what was written is kept, runs resume)",
    errno.EACCES: "permission denied (the folder is not writable by this user)",
    errno.EPERM: "permission denied (the folder is not writable by this user)",
    errno.EROFS: "read-only file system",
}


def describe_os_error(exc: OSError) -> str:
    """One line for a failed file operation: the path and the cause in words, e.g. ``runs/x: no space left``."""
    cause = _OS_CAUSES.get(exc.errno) or exc.strerror or str(exc)
    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    return f"{' -> '.join(map(str, paths))}: {cause}" if paths else cause
