"""A run folder's lifecycle: what it holds against the planned config, leftovers, moving aside.

A run folder is ``done`` (``record.json``), ``todo`` (nothing, or a checkpoint to resume),
``changed`` (its record or checkpoint was trained under another config) or ``damaged`` (its
record or checkpoint cannot be read). Results are only ever reused or resumed when the stored
config equals the planned one key by key, so changing a setting can never silently show old
numbers or extend a run trained under other settings. What counts is the config: a different
itr-bench or plugin version (recorded in every record) does not by itself invalidate a run.

Changed and damaged folders are never deleted: :func:`move_aside` renames the whole folder to a
hidden sibling (``.<name>.changed-<UTC time>``), which no leaderboard reads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..config import RunConfig
from ..errors import DamagedRunError, ItrBenchError, StaleRunError
from ..run_identity import Change, comparable, config_changes  # noqa: F401  (the store's API)
from .atomic import remove_temporaries
from .files import read_json_file
from .record import BEST, CHECKPOINT_STATE, CHECKPOINT_TENSORS, FAILED, LAST, RECORD, UNTRAINED, read_record

DONE, TODO, CHANGED, DAMAGED = "done", "todo", "changed", "damaged"
T = TypeVar("T")


@dataclass(frozen=True)
class FolderState:
    """What a run folder holds compared with the planned config."""

    status: str  # DONE, TODO, CHANGED or DAMAGED
    #: for CHANGED: the differing keys
    changes: tuple[Change, ...] = ()
    #: for CHANGED: the file whose config differs; for DAMAGED: the file or checkpoint to delete
    source: Path | None = None
    #: for DAMAGED: the cause
    reason: str = ""

    def describe(self) -> str:
        """One phrase: the differing keys, the damage, or the status."""
        if self.status == CHANGED:
            return f"trained under another config ({self.source}): {', '.join(map(str, self.changes))}"
        if self.status == DAMAGED:
            return self.reason
        return self.status


# --------------------------------------------------------------------------------------------
# Inspecting a folder
# --------------------------------------------------------------------------------------------


def inspect_folder(folder: Path | str, planned: RunConfig, data: str | None = None) -> FolderState:
    """Classify ``folder`` against ``planned`` (reads JSON only; never loads tensors).

    ``data``: the planned run's data identity (:mod:`itr_bench.data.identity`); a record that
    or checkpoint that stores another is CHANGED (key ``data``): a run is neither reused nor
    resumed on other data. Those older than the field carry none and are compared by config only.
    """
    folder = Path(folder)
    record = folder / RECORD
    if record.exists() or record.is_symlink():
        stored = _read_object(record, read_record)
        if isinstance(stored, str):
            return FolderState(DAMAGED, source=record, reason=stored)
        if not isinstance(stored.get("config"), Mapping):  # every record stores the config it ran
            return FolderState(DAMAGED, source=record, reason=f"{record}: damaged: no 'config' object")
        state = _compare(stored["config"], planned, record, DONE)
        return _compare_data(state, stored.get("data_fingerprint"), data, record)
    for name in (LAST, BEST):  # an unfinished run: its checkpoint carries its config
        checkpoint = _checkpoint(folder, name)
        if checkpoint is None:
            continue
        missing = [f for f in (CHECKPOINT_STATE, CHECKPOINT_TENSORS) if not (checkpoint / f).is_file()]
        if missing:
            return FolderState(DAMAGED, source=checkpoint,
                               reason=f"{checkpoint}: damaged checkpoint (missing {', '.join(missing)})")
        state = _read_object(checkpoint / CHECKPOINT_STATE)
        if isinstance(state, str):
            return FolderState(DAMAGED, source=checkpoint, reason=f"damaged checkpoint: {state}")
        inner = state.get("state")
        if not isinstance(inner, Mapping):
            return FolderState(DAMAGED, source=checkpoint,
                               reason=f"{checkpoint / CHECKPOINT_STATE}: damaged checkpoint (no 'state' object)")
        if not isinstance(inner.get("config"), Mapping):  # every checkpoint stores its run's config
            return FolderState(DAMAGED, source=checkpoint,
                               reason=f"{checkpoint}: damaged checkpoint (no 'config' in {CHECKPOINT_STATE})")
        state = _compare(inner["config"], planned, checkpoint / CHECKPOINT_STATE, TODO)
        return _compare_data(state, inner.get("data_fingerprint"), data, checkpoint / CHECKPOINT_STATE)
    return FolderState(TODO)


def _checkpoint(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f".{name}.old"):  # .old: killed between a save's renames
        if candidate.exists():
            return candidate
    return None


def _compare(stored: Mapping[str, Any], planned: RunConfig, source: Path, same: str) -> FolderState:
    changes = config_changes(stored, planned)
    return FolderState(CHANGED, tuple(changes), source) if changes else FolderState(same)


def _compare_data(state: FolderState, stored: str | None, planned: str | None, source: Path) -> FolderState:
    """``state`` with a data change when both identities are known and differ, and the config
    alone does not already explain it (dataset options are config keys, named as such)."""
    if stored is None or planned is None or stored == planned or state.changes:
        return state
    change = Change("data (dataset files, captions or options)", stored, planned)
    return FolderState(CHANGED, (*state.changes, change), source)


def _read_object(path: Path, read: Callable[[Path], Any] = read_json_file) -> dict[str, Any] | str:
    """The JSON object in ``path`` (a record: with its fields checked), or why it is not one (one
    line naming the file)."""
    try:
        return read(path)
    except ItrBenchError as exc:
        return str(exc)


# --------------------------------------------------------------------------------------------
# Acting on a folder
# --------------------------------------------------------------------------------------------


def move_aside(folder: Path | str, why: str) -> Path:
    """Rename ``folder`` to a hidden sibling ``.<name>.<why>-<UTC time>`` and return its new path."""
    folder = Path(folder)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = folder.with_name(f".{folder.name}.{why}-{stamp}")
    counter = 1
    while target.exists():
        counter += 1
        target = folder.with_name(f".{folder.name}.{why}-{stamp}-{counter}")
    folder.rename(target)
    return target


def clean_leftovers(folder: Path | str) -> list[Path]:
    """Remove what killed writes left in run folder ``folder``; returns what was removed.

    Call it only while owning the folder (its lock): a live writer's temporary files look the
    same. Besides the temporaries (:func:`~itr_bench.store.atomic.remove_temporaries`), an
    ``untrained.json`` that is damaged, or has neither record nor checkpoint beside it, goes: the
    latter may come from a start under another config killed in its first epoch, and both are
    cheap to recompute.
    """
    folder = Path(folder)
    removed = remove_temporaries(folder)
    untrained = folder / UNTRAINED
    if untrained.is_file() and (isinstance(_read_object(untrained), str)  # damaged: recomputed
                                or not (folder / RECORD).exists() and _checkpoint(folder, LAST) is None):
        untrained.unlink()
        removed.append(untrained)
    return removed


@dataclass(frozen=True)
class Policy:
    """What to do with a folder that does not match: refuse (the default) or move it aside and retrain."""

    rerun_changed: bool = False
    restart_damaged: bool = False


def settle(folder: Path, planned: RunConfig, label: str, policy: Policy,
           say: Callable[[str], None], data: str | None = None) -> FolderState:
    """Make ``folder`` safe to train into, owning it: DONE (reuse it) or TODO (train, resuming).

    Clears leftovers; a CHANGED or DAMAGED folder is refused with one line, or with the
    policy's flag moved aside (and ``say`` tells where).
    """
    clean_leftovers(folder)
    state = inspect_folder(folder, planned, data)
    if state.status not in (CHANGED, DAMAGED):
        return state
    if not (policy.rerun_changed if state.status == CHANGED else policy.restart_damaged):
        raise refuse(label, state, folder)
    moved = move_aside(folder, state.status)
    say(f"{label}: {state.describe()}; its files were moved to {moved}; training it from scratch")
    return FolderState(TODO)


def train_settled(folder: Path, label: str, policy: Policy, say: Callable[[str], None], train: Callable[[], T]) -> T:
    """``train()`` in a settled folder; a checkpoint found damaged only as it loads is handled like in :func:`settle`."""
    try:
        return train()
    except DamagedRunError as exc:
        if not policy.restart_damaged:
            raise refuse(label, FolderState(DAMAGED, source=_damaged_path(exc, folder), reason=str(exc)), folder) \
                from None
        moved = move_aside(folder, DAMAGED)
        say(f"{label}: {exc}; its files were moved to {moved}; training it from scratch")
        return train()


def _damaged_path(exc: DamagedRunError, folder: Path) -> Path:
    """The checkpoint folder a damage message starts with (``<folder>/last: damaged ...``)."""
    named = Path(str(exc).partition(": ")[0])
    return named if named.parent == folder else folder


def refuse(label: str, state: FolderState, folder: Path, more: str = "") -> Exception:
    """The one-line error for a CHANGED or DAMAGED folder, with the ways out (``more`` is appended)."""
    if state.status == CHANGED:
        return StaleRunError(f"{label}: {state.describe()}; rerun with --rerun-changed to retrain it "
                             f"(the old results are moved aside, to .{folder.name}.changed-<time>){more}")
    return DamagedRunError(f"{label}: {state.reason}; delete {state.source or folder} or rerun with "
                           f"--restart-damaged to retrain it from scratch (the damaged files are moved aside){more}")


def result_files(root: Path | str, name: str) -> list[Path]:
    """Every ``name`` (``record.json``, ``failed.json``) under ``root`` that is a result, sorted.

    Hidden folders are skipped: they hold moved-aside runs (:func:`move_aside`) and the
    temporaries of writes in progress, neither of which is a result.
    """
    root = Path(root)
    return sorted(path for path in root.rglob(name)
                  if not any(part.startswith(".") for part in path.relative_to(root).parts))
