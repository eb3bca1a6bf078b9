"""The Optuna studies of a tune: one per (dataset, run), in one RDB storage, shared by processes.

Every change to a study's trial list (counting, creating a trial, telling its result, failing a
dead one) happens under one lock file in the suite's store (:class:`~itr_bench.store.locking.FolderLock`
on ``<store>/<suite>/.tune.lock``), so several processes on one machine never create more than
the N trials a run gets, and SQLite sees one writer at a time. A trial owns its run folder's lock
while it trains (taken under the study lock, as the trial is created), so a RUNNING trial whose
folder lock is free, created on this host, belongs to a dead process: it becomes FAIL and its
parameters are queued again, or, when its record was written before the process died, it is
told COMPLETE from that record. Trials created on another host are left to that host.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, RunBusyError
from ..store.locking import FolderLock
from ..store.record import RECORD

#: the study's user attribute holding the fingerprint of the config that created it
FINGERPRINT = "itr_bench_fingerprint"
#: a trial's user attributes: the host that runs it, how it ended when it did not complete
HOST, OUTCOME, RETRY_OF = "host", "outcome", "retry_of"
#: outcomes of a FAIL trial: its training diverged (a spent trial, counted), its process died
#: (queued again, not counted), or an error stopped it (not counted; the run's search stops)
DIVERGED, KILLED, ERROR = "diverged", "killed", "error"


def default_storage(store: Path, suite: str) -> str:
    return f"sqlite:///{(store / suite / 'tune.db').resolve()}"


def open_storage(url: str, lock: Path, flag: str = "--storage"):
    """Optuna's RDB storage at ``url``; one that cannot be opened is one line naming the flag.

    Opened under the study lock: two processes creating a new database's tables at once collide.
    """
    import optuna

    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kwargs = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}
    try:
        with study_lock(lock):
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    except Exception as exc:  # noqa: BLE001 -- a bad URL, a missing driver, a refused connection, a damaged file
        cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{flag} {url}: cannot open the study storage: {cause}") from None


def study_name(suite: str, dataset: str, run: str) -> str:
    return f"{suite}/{dataset}/{run}"


def open_study(storage, name: str, direction: str, fingerprint: str, lock: Path, where: str, pruner=None):
    """The study ``name`` (created if absent, marked with ``fingerprint``); a study another config
    made is refused (one line naming the storage flag)."""
    import optuna

    with study_lock(lock):
        study = optuna.create_study(storage=storage, study_name=name, direction=direction, load_if_exists=True,
                                    pruner=pruner)
        found = study.user_attrs.get(FINGERPRINT)
        if found is None:
            study.set_user_attr(FINGERPRINT, fingerprint)
        elif found != fingerprint:
            raise ConfigError(f"{where}: study {name!r} was created by another suite config or [tune] space "
                              f"(fingerprint {found}, now {fingerprint}); tune into another --storage or "
                              f"delete that study")
        if study.direction.name.lower() != direction:
            raise ConfigError(f"{where}: study {name!r} {study.direction.name.lower()}s, the suite's "
                              f"select_metric asks to {direction}")
    return study


@contextmanager
def study_lock(path: Path) -> Iterator[None]:
    with FolderLock(path, wait=True):
        yield


@dataclass(frozen=True)
class Counts:
    complete: int
    pruned: int
    diverged: int
    running: int
    waiting: int
    failed: int

    @property
    def finished(self) -> int:
        """Trials that spent their budget: completed, pruned, or diverged."""
        return self.complete + self.pruned + self.diverged


def counts(study) -> Counts:
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    state = [t.state for t in trials]
    diverged = sum(t.state == TrialState.FAIL and t.user_attrs.get(OUTCOME) == DIVERGED for t in trials)
    failed = state.count(TrialState.FAIL) - diverged
    return Counts(state.count(TrialState.COMPLETE), state.count(TrialState.PRUNED), diverged,
                  state.count(TrialState.RUNNING), state.count(TrialState.WAITING), failed)


def settle_dead(storage, study, folder_of, finished_value) -> list[int]:
    """Under the study lock: each RUNNING trial of this host whose folder nobody owns belonged to a
    dead process. With every record it needs written (``finished_value(trial)``: its value, else
    None) it is told COMPLETE; else it becomes FAIL (outcome ``killed``) and, when it had started
    training, its parameters are queued again. Returns their numbers.

    A trial that never named its host died inside ``ask`` or just after: its draw may be partial
    (Optuna stores each parameter as it is drawn), and queueing a partial draw would retry it under
    parameters it never had. It trained nothing, so it is failed and a fresh draw takes its place."""
    from optuna.trial import TrialState

    settled = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        host = trial.user_attrs.get(HOST)
        if host is not None and host != socket.gethostname():
            continue  # another machine's: only it can tell
        folder = folder_of(trial.number)
        if host is not None and _owned(folder):
            continue  # alive
        # no host: its process died between creating it and naming itself, both under the study lock
        value = finished_value(trial)
        if value is not None:
            study.tell(trial.number, value)
        else:
            trial_id = storage.get_trial_id_from_study_id_trial_number(
                storage.get_study_id_from_name(study.study_name), trial.number)
            storage.set_trial_user_attr(trial_id, OUTCOME, KILLED)
            study.tell(trial.number, state=TrialState.FAIL)
            if host is not None:  # named after its draw was complete, as it started training
                study.enqueue_trial(trial.params, user_attrs={RETRY_OF: trial.number})
        settled.append(trial.number)
    return settled


def _owned(folder: Path) -> bool:
    try:
        with FolderLock(folder):
            return False
    except RunBusyError:
        return True


def finished_record(folder: Path, trial) -> dict[str, Any] | None:
    """The record the dead trial wrote before its process died, if its params are this trial's."""
    from ..errors import ItrBenchError
    from ..store.record import read_record

    path = folder / RECORD
    if not path.is_file():
        return None
    try:
        record = read_record(path)
    except ItrBenchError:
        return None
    return record if (record.get("trial") or {}).get("params") == trial.params else None

