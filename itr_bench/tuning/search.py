"""One run's search: trials drawn by TPE, each trained into its own run folder, on validation only.

A trial is an ordinary config-keyed run folder, ``<store>/<suite>/<dataset>/<run>/tune/trial-0007/``
(its number in the study), trained at the trial seed with ``score_test = false``: its record has
its validation history and its parameters, and no test metric at all. The objective is the best
validation ``select_metric`` over the trial's evaluations; with a pruner each evaluation is
reported as an intermediate value. With several trial seeds (``tune.seed`` a list) a trial is one
such run per seed, ``trial-0007/seed-100/``, ``trial-0007/seed-101/``..., and its objective the
mean of theirs: a setting is chosen for what it does on every seed, not on one lucky one.
Checkpoints are removed when a trial ends (a trial is never tested or resumed after it ends);
its record stays.

The sampler is seeded per trial from ``tune.sampler_seed`` and the trial's number, so a study
resumed by another process draws what an uninterrupted one would have drawn from the same history.
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
import socket
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import RunConfig
from ..errors import ConfigError, ItrBenchError
from ..metrics.declarations import DECLARED
from ..registry import Registry
from ..store.locking import FolderLock
from ..store.record import BEST, LAST, RECORD, read_record
from ..store.state import DONE, Policy, settle, train_settled
from .space import Dimension, TuneSpec, apply_params, fingerprint, run_space
from .study import (
    DIVERGED,
    ERROR,
    HOST,
    OUTCOME,
    counts,
    finished_record,
    open_storage,
    open_study,
    settle_dead,
    study_lock,
    study_name,
)

TUNE_FOLDER = "tune"
#: how often a worker whose run's last trials run elsewhere looks whether they ended
POLL_SECONDS = 2.0


@dataclass(frozen=True)
class RunSearch:
    """What one (dataset, run) searches and where its trials go."""

    suite: str
    dataset: str
    run: str
    index: int
    baseline: str | None
    #: the run's config at the trial seed, never scored on test; each trial sets its params on it
    config: RunConfig
    #: ``<store>/<suite>/<dataset>/<run>/tune``
    folder: Path
    dimensions: tuple[Dimension, ...]
    spec: TuneSpec
    #: the study lock (``<store>/<suite>/tune``: the file is ``.tune.lock``)
    lock: Path

    @property
    def study(self) -> str:
        return study_name(self.suite, self.dataset, self.run)

    @property
    def label(self) -> str:
        return f"{self.dataset}/{self.run}"

    @property
    def metric(self) -> str:
        return self.config.select_metric

    @property
    def direction(self) -> str:
        return "maximize" if DECLARED[self.metric].higher_is_better else "minimize"

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.config, self.dimensions, self.spec, self.metric)

    @property
    def shared_only(self) -> bool:
        """No loss of the run declares a range: it is tuned on the suite's shared keys alone."""
        return all(d.source == "suite" for d in self.dimensions)

    def trial_folder(self, number: int) -> Path:
        return self.folder / f"trial-{number:04d}"

    def seed_folders(self, number: int) -> list[tuple[int, Path]]:
        """Each trial seed and the run folder it trains in (the trial folder itself for one seed)."""
        folder = self.trial_folder(number)
        if len(self.spec.seeds) == 1:
            return [(self.spec.seed, folder)]
        return [(seed, folder / f"seed-{seed}") for seed in self.spec.seeds]

    def finished_value(self, trial) -> float | None:
        """The objective of a trial whose every seed's record is written under its params; else None."""
        records = [finished_record(folder, trial) for _, folder in self.seed_folders(trial.number)]
        if any(record is None for record in records):
            return None
        return statistics.fmean(self.value_of(record) for record in records)

    def value_of(self, record: Mapping[str, Any]) -> float:
        value = (record.get("val") or {}).get(self.metric)
        if value is None:
            raise ItrBenchError(f"{self.label}: a trial record has no validation {self.metric}")
        return float(value)


def plan_search(planned, spec: TuneSpec, registry: Registry, store: Path) -> RunSearch:
    """The search of one planned run (expanded at the trial seed); its space checked."""
    config = dataclasses.replace(planned.config, score_test=False)
    dimensions = run_space(spec, planned.run, config, registry)
    if not dimensions:
        raise ConfigError(f"{spec.where}: run {planned.run!r}: nothing to search: its losses declare no range and "
                          "[tune.space] sets no shared key (add e.g. \"stages.0.lr\")")
    return RunSearch(planned.suite, planned.dataset, planned.run, planned.index, planned.baseline, config,
                     planned.folder.parent / TUNE_FOLDER, dimensions, spec, store / planned.suite / TUNE_FOLDER)


@dataclass(frozen=True)
class SearchResult:
    search: RunSearch
    #: trials this process ran, and why the search of this run stopped early (empty when it did not)
    ran: int = 0
    error: str = ""


def run_search(search: RunSearch, storage_url: str, registry: Registry, *, progress: bool = True,
               say: Callable[[str], None] = print) -> SearchResult:
    """Run trials of ``search`` until its study has ``spec.trials`` finished ones, waiting for those
    that other processes run (so what follows sees every trial); an error in a trial stops this
    run's search and is returned."""
    import optuna

    storage = open_storage(storage_url, search.lock)
    study = open_study(storage, search.study, search.direction, search.fingerprint, search.lock, search.label,
                       pruner(search.spec))
    distributions = {d.key: d.distribution() for d in search.dimensions}
    ran = 0
    while True:
        with study_lock(search.lock):
            for number in settle_dead(storage, study, search.trial_folder, search.finished_value):
                say(f"{search.label}: trial {number} was left running by a dead process: settled")
            state = counts(study)
            if state.finished >= search.spec.trials:
                return SearchResult(search, ran)
            waiting = state.finished + state.running >= search.spec.trials
            if not waiting:
                study.sampler = sampler(search.spec, len(study.get_trials(deepcopy=False)))
                trial = study.ask(distributions)
                trial.set_user_attr(HOST, socket.gethostname())
                owner = FolderLock(search.trial_folder(trial.number)).acquire()
        if waiting:  # the last trials run in other processes: their results are this run's too
            time.sleep(POLL_SECONDS)
            continue
        try:
            value = train_trial(search, trial, registry, progress, say)
        except optuna.TrialPruned:
            outcome = "pruned"
            with study_lock(search.lock):
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        except Exception as exc:  # noqa: BLE001 -- any failure is the trial's, recorded in the study
            from ..engine.objective import NonFiniteLoss
            from ..store.failures import describe_failure

            kind = DIVERGED if isinstance(exc, NonFiniteLoss) else ERROR
            reason = describe_failure(exc, registry).line
            with study_lock(search.lock):
                trial.set_user_attr(OUTCOME, kind)
                trial.set_user_attr("reason", reason)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            if kind == ERROR:
                return SearchResult(search, ran + 1, f"trial {trial.number}: {reason}")
            outcome = f"diverged ({reason})"
        else:
            outcome = f"val {search.metric} {value:.2f}"
            with study_lock(search.lock):
                study.tell(trial, value)
        finally:
            owner.release()
        ran += 1
        say(f"trial  {search.label} #{trial.number}: {outcome}")


def train_trial(search: RunSearch, trial, registry: Registry, progress: bool, say: Callable[[str], None]) -> float:
    """Train one trial into its folder (owned by the caller), once per trial seed, and return its
    objective (the mean over the seeds)."""
    import optuna

    from ..engine.run import train_run

    params = dict(trial.params)
    label = f"{search.label}/trial-{trial.number:04d}"
    config = apply_params(search.config, params, label)
    context = {"suite": search.suite, "run_index": search.index, "baseline": search.baseline,
               "trial": {"study": search.study, "number": trial.number, "params": params,
                         "metric": search.metric}}

    def report(entry: dict[str, Any]) -> None:
        if search.spec.pruner == "none" or search.metric not in (entry.get("val") or {}):
            return
        with study_lock(search.lock):
            trial.report(float(entry["val"][search.metric]), int(entry["global_epoch"]))
            prune = trial.should_prune()
        if prune:
            raise optuna.TrialPruned(f"{label}: pruned at epoch {entry['global_epoch'] + 1}")

    several = len(search.spec.seeds) > 1
    values = []
    for seed, folder in search.seed_folders(trial.number):
        where = f"{label}/seed-{seed}" if several else label
        seeded = dataclasses.replace(config, seed=seed) if several else config
        try:
            if settle(folder, seeded, where, Policy(), say).status == DONE:
                record = read_record(folder / RECORD)
            else:
                record = train_settled(folder, where, Policy(), say, functools.partial(
                    train_run, seeded, registry, folder, where=where, progress=progress, context=context,
                    on_epoch=report))
        finally:
            for name in (LAST, BEST):  # a trial is never tested nor resumed once it ends
                shutil.rmtree(folder / name, ignore_errors=True)
        values.append(search.value_of(record))
    return statistics.fmean(values)


def sampler(spec: TuneSpec, number: int):
    """TPE seeded by the sampler seed and the trial number (the same draw whichever process asks)."""
    from optuna.samplers import TPESampler

    kwargs = {} if spec.startup_trials is None else {"n_startup_trials": spec.startup_trials}
    return TPESampler(seed=(spec.sampler_seed * 1_000_003 + number) % 2**32, constant_liar=True, **kwargs)


def pruner(spec: TuneSpec):
    import optuna

    return optuna.pruners.MedianPruner() if spec.pruner == "median" else optuna.pruners.NopPruner()
