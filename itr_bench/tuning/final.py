"""After the search: each run's best setting, retrained on the suite's seeds under ``<suite>-tuned``.

The tuned runs are ordinary suite runs (same store, folders, locks and records as ``itr-bench
run``), planned by expanding the suite again with the best parameters as per-run overrides, so
their config equals the best trial's except for the seed and test scoring. Each record carries a
``tuning`` field: the study, the best parameters, the trial counts and the best and median
validation scores, which the tuned leaderboard reads (:mod:`itr_bench.tuning.report`).
"""

from __future__ import annotations

import copy
import dataclasses
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..overrides import Override, Overrides
from ..registry import Registry
from ..suites.plan import PlannedRun, expand
from .search import RunSearch
from .study import counts, open_storage

TUNED = "-tuned"


def tuned_suite(suite: str) -> str:
    return f"{suite}{TUNED}"


def summarise(search: RunSearch, storage_url: str) -> dict[str, Any] | None:
    """The ``tuning`` field of the run's tuned records; None when no trial completed."""
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name=search.study, storage=open_storage(storage_url, search.lock))
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return None
    state = counts(study)
    best = study.best_trial
    return {"study": search.study, "metric": search.metric, "direction": search.direction,
            "trials": state.finished, "complete": state.complete, "pruned": state.pruned,
            "diverged": state.diverged, "best_trial": best.number, "best_params": dict(best.params),
            "best_value": best.value, "median_value": statistics.median(t.value for t in complete),
            "trial_seed": search.spec.seed, "trial_seeds": list(search.spec.seeds),
            "shared_only": search.shared_only,
            "searched": [d.as_dict() for d in search.dimensions]}


def plan_tuned(data: Mapping[str, Any], registry: Registry, where: str, store: Path,
               summaries: Mapping[tuple[str, str], Mapping[str, Any]], *, datasets: Sequence[str],
               seeds: Iterable[int] | None, per_dataset: Mapping[str, Mapping[str, Any]] | None,
               overrides: Overrides = Overrides(), report_to: Sequence[str] | None = None) -> list[PlannedRun]:
    """The tuned runs: the suite renamed ``<suite>-tuned``, each (dataset, run) at its best
    parameters, on the suite's seeds; runs with no completed trial are left out. ``report_to``:
    the experiment trackers that follow them (None: the suite's ``report_to``)."""
    renamed = copy.deepcopy(dict(data))
    renamed["suite"] = {**renamed["suite"], "name": tuned_suite(renamed["suite"]["name"])}
    planned = []
    for dataset in datasets:
        best = [Override("tuned", f"{run}.{key}={value!r}", (*run.split("."), *key.split(".")), value)
                for (d, run), summary in summaries.items() if d == dataset
                for key, value in summary["best_params"].items()]
        tuned = Overrides(overrides.every, (*overrides.per_run, *best), overrides.forbidden)
        for run in expand(renamed, registry, where, store, datasets=per_dataset, seeds=seeds,
                          only_datasets=[dataset], overrides=tuned, check_weights=False, report_to=report_to):
            summary = summaries.get((dataset, run.run))
            if summary is not None:
                planned.append(dataclasses.replace(run, record_fields={"tuning": dict(summary)}))
    return planned
