"""A failed run in one line: the user's to fix (input, disk, memory) or a bug, and whose.

A suite records every failure and goes on with its other runs, whatever was raised. The line
says what a user can act on: an :class:`~itr_bench.errors.ItrBenchError` is already that line;
a file-system error names the path and the cause (no space, permission, read-only); running out
of memory says so. Anything else is a bug in code, not in the user's input, and the line names
where it was raised, as the component's plugin when a plugin raised it (``--debug`` and the
run's ``failed.json`` hold the traceback).
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass

from ..errors import ItrBenchError, describe_os_error
from ..registry import Registry

CORE = "itr_bench"


@dataclass(frozen=True)
class Failure:
    kind: str  # "error" (the user can fix it) or "bug"
    line: str
    traceback: str


def describe_failure(exc: BaseException, registry: Registry | None = None) -> Failure:
    """What went wrong, in one line, and whether it is the user's to fix."""
    trace = "".join(traceback.format_exception(exc))
    if isinstance(exc, ItrBenchError):
        return Failure("error", _one_line(str(exc)), trace)
    if isinstance(exc, OSError):
        return Failure("error", describe_os_error(exc), trace)
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        detail = _one_line(str(exc))[:200]
        return Failure("error", "out of memory" + (f" ({detail})" if detail else "")
                       + ": lower batch_size or image_size", trace)
    where = _raised_in(exc, registry)
    return Failure("bug", f"{type(exc).__name__}: {_one_line(str(exc))[:300]} (a bug {where}, not in the "
                          "input; --debug shows the traceback)", trace)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _raised_in(exc: BaseException, registry: Registry | None) -> str:
    """``in plugin 'x' (module.py:12)`` for the innermost frame of itr-bench or of a plugin."""
    owners = _owners(registry)
    frames = traceback.extract_tb(exc.__traceback__)
    for frame, module in zip(reversed(frames), reversed(_modules(exc))):
        top = module.partition(".")[0]
        if top == CORE or top in owners:
            place = f"{module}, {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
            return f"in itr-bench ({place})" if top == CORE else f"in plugin {owners[top]} ({place})"
    if frames:
        return f"at {frames[-1].filename}:{frames[-1].lineno}"
    return "of unknown origin"


def _modules(exc: BaseException) -> list[str]:
    """The ``__name__`` of each traceback frame's module, outermost first."""
    names, tb = [], exc.__traceback__
    while tb is not None:
        names.append(str(tb.tb_frame.f_globals.get("__name__", "?")))
        tb = tb.tb_next
    return names


def _owners(registry: Registry | None) -> dict[str, str]:
    """Top-level package -> the plugin(s) whose components it defines."""
    owners: dict[str, set[str]] = {}
    for info in registry.list() if registry is not None else []:
        package = info.module.partition(".")[0]
        if package and package != CORE and package not in sys.stdlib_module_names:
            owners.setdefault(package, set()).add(info.plugin)
    return {package: "/".join(sorted(names)) for package, names in owners.items()}
