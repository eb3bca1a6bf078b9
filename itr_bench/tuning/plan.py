"""A tune from start to end: checked before anything trains, searched, retrained, reported.

:meth:`TunePlan.make` reads and checks everything that can be wrong (the ``[tune]`` table, each
run's space at both ends of every range, the trial seed against the final seeds);
:meth:`open_studies` opens the storage and refuses a study another config made; only then does
:meth:`search` train trials and :meth:`finish` retrain each run's best setting and write the
tuned leaderboard.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ItrBenchError
from ..overrides import Overrides
from ..registry import Registry
from ..store.record import RECORD, read_record
from .search import TUNE_FOLDER, RunSearch, plan_search
from .space import TuneSpec, check_runs, check_seed, read_tune, used_losses
from .study import counts, default_storage, open_storage, open_study


@dataclass
class TunePlan:
    data: Mapping[str, Any]
    registry: Registry
    where: str
    store: Path
    spec: TuneSpec
    searches: list[RunSearch]
    storage_url: str
    #: the tuned runs' seeds (None: the suite's), datasets and per-dataset keys, and the command's overrides
    seeds: list[int] | None
    datasets: list[str]
    per_dataset: Mapping[str, Mapping[str, Any]]
    overrides: Overrides
    say: Callable[[str], None] = print
    summaries: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def make(cls, data: Mapping[str, Any], registry: Registry, where: str, store: Path, *, trials: int | None,
             storage: str | None, per_dataset: Mapping[str, Mapping[str, Any]], seeds: list[int] | None,
             only_datasets: list[str] | None, overrides: Overrides, say: Callable[[str], None] = print) -> TunePlan:
        from ..suites.plan import expand

        spec = read_tune(data, where).with_trials(trials)
        final_seeds = seeds if seeds is not None else list(data.get("suite", {}).get("seeds", [0]))
        check_seed(spec, final_seeds)
        notes: list[str] = []
        planned = expand(data, registry, where, store, datasets=per_dataset, seeds=[spec.seed],
                         only_datasets=only_datasets, overrides=overrides, notes=notes)
        for note in notes:
            say(f"note: {note}")
        check_runs(spec, [run.run for run in planned])
        used_losses(spec, [run.config for run in planned], where)
        searches = [plan_search(run, spec, registry, store) for run in planned]
        suite = planned[0].suite
        url = storage or default_storage(store, suite)
        datasets = list(dict.fromkeys(run.dataset for run in planned))
        return cls(data, registry, where, store, spec, searches, url, seeds, datasets, per_dataset, overrides, say)

    @property
    def suite(self) -> str:
        return self.searches[0].suite

    # ----------------------------------------------------------------------------------------
    def describe(self) -> list[str]:
        """The plan: per run its trials x epochs and space; the total; a pilot trial's time if any."""
        spec, lines = self.spec, []
        epochs = {s.config.total_epochs for s in self.searches}
        finished = self._finished_counts()
        lines.append(f"tune {self.suite}: {len(self.searches)} runs x {spec.trials} trials x "
                     f"{'/'.join(map(str, sorted(epochs)))} epochs ({_seeds(spec.seeds)}, TPE sampler seed "
                     f"{spec.sampler_seed}, pruner {spec.pruner}) -> {self.storage_url}")
        for search in self.searches:
            keys = ", ".join(f"{d.key} {d.search}" for d in search.dimensions)
            done = finished.get(search.study)
            state = f"{done} of {spec.trials} finished" if done is not None else "no study yet"
            note = " (shared settings only)" if search.shared_only else ""
            lines.append(f"  {search.label}: {search.config.total_epochs} epochs, {state}{note}: {keys}")
        total = len(self.searches) * spec.trials
        lines.append(f"{total} trials in all, then {len(self.searches)} tuned runs x the suite's seeds")
        pilot = self.pilot_seconds()
        if pilot is None:
            lines.append("no trial in the store yet: run one (--trials 1) to time a trial")
        else:
            seconds, count = pilot
            per_trial = seconds * len(spec.seeds)
            seeds = "" if len(spec.seeds) == 1 else f", x {len(spec.seeds)} seeds"
            lines.append(f"one trial took {per_trial:.0f} s (median of {count} trial records in the store{seeds}): "
                         f"about {total * per_trial / 60:.0f} min of trials in one process")
        return lines

    def pilot_seconds(self) -> tuple[float, int] | None:
        """The median wall time of one seed's trial record in the store, and how many there are."""
        times = []
        trials = (self.store / self.suite).glob(f"*/*/{TUNE_FOLDER}/trial-*/{RECORD}")
        seeds = (self.store / self.suite).glob(f"*/*/{TUNE_FOLDER}/trial-*/seed-*/{RECORD}")
        for path in sorted([*trials, *seeds]):
            try:
                times.append(float(read_record(path)["wall_seconds"]))
            except (ItrBenchError, KeyError, TypeError, ValueError):  # a damaged record times nothing
                continue
        return (statistics.median(times), len(times)) if times else None

    def _finished_counts(self) -> dict[str, int]:
        """Finished trials per existing study (reads the default SQLite file only when it exists)."""
        import optuna

        if self.storage_url.startswith("sqlite:///") and not Path(self.storage_url[len("sqlite:///"):]).is_file():
            return {}
        storage = open_storage(self.storage_url, self.searches[0].lock)
        out = {}
        for search in self.searches:
            try:
                out[search.study] = counts(optuna.load_study(study_name=search.study, storage=storage)).finished
            except KeyError:
                continue
        return out

    # ----------------------------------------------------------------------------------------
    def open_studies(self) -> None:
        """Create or check every study now, so a study another config made stops the tune before training."""
        storage = open_storage(self.storage_url, self.searches[0].lock)
        for search in self.searches:
            open_study(storage, search.study, search.direction, search.fingerprint, search.lock,
                       f"--storage {self.storage_url}")

    def search(self, jobs: int, executor: str, ray_address: str | None, progress: bool) -> list[str]:
        from .execute import search_local, search_ray

        if executor == "ray":
            results = search_ray(self.searches, self.storage_url, jobs, ray_address)
        else:
            results = search_local(self.searches, self.storage_url, self.registry, jobs, progress=progress,
                                   say=self.say)
        errors = [f"{r.search.label}: {r.error}" for r in results if r.error]
        for search in self.searches:
            from .final import summarise

            summary = summarise(search, self.storage_url)
            if summary is not None:
                self.summaries[(search.dataset, search.run)] = summary
            self.say(f"search {search.label}: {self._describe_summary(summary)}")
        return errors

    def _describe_summary(self, summary: Mapping[str, Any] | None) -> str:
        if summary is None:
            return "no completed trial: not retrained"
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in summary["best_params"].items())
        return (f"{summary['trials']} trials, best val {summary['metric']} {summary['best_value']:.2f} "
                f"(median {summary['median_value']:.2f}) at {params}")

    def finish(self, rerun_changed: bool, restart_damaged: bool, executor: str, ray_address: str | None,
               progress: bool, leaderboard_dir: Path | None, with_defaults: bool,
               report_to: Sequence[str] | None = None, baseline: Sequence[str] = ()) -> list[str]:
        """Retrain each run's best setting on the final seeds (followed by ``report_to``'s trackers;
        trials are not tracked); write the tuned leaderboard."""
        from ..store.state import CHANGED, Policy, refuse
        from ..suites.executors import execute_local, execute_ray, outcome_line
        from .final import plan_tuned, tuned_suite
        from .report import write_tuned_leaderboard

        runs = plan_tuned(self.data, self.registry, self.where, self.store, self.summaries, datasets=self.datasets,
                          seeds=self.seeds, per_dataset=self.per_dataset, overrides=self.overrides,
                          report_to=report_to)
        policy = Policy(rerun_changed=rerun_changed, restart_damaged=restart_damaged)
        changed = [(run, state) for run in runs if (state := run.state()).status == CHANGED]
        if changed and not rerun_changed:  # the search moved on since these runs were trained
            run, state = changed[0]
            raise refuse(run.label, state, run.folder)
        if executor == "ray":
            outcomes = execute_ray(runs, address=ray_address, policy=policy)
            for outcome in outcomes:
                self.say(outcome_line(outcome))
        else:
            outcomes = execute_local(runs, self.registry, progress=progress, policy=policy,
                                     on_outcome=lambda outcome: self.say(outcome_line(outcome)))
        errors = [f"{o.run.label}: {o.reason}" for o in outcomes if o.status == "failed"]
        out = leaderboard_dir or self.store / tuned_suite(self.suite) / "leaderboard"
        studies = {(s.dataset, s.run): (self.storage_url, s.study) for s in self.searches
                   if (s.dataset, s.run) in self.summaries}
        if (self.store / tuned_suite(self.suite)).is_dir():
            _, written = write_tuned_leaderboard(self.store, self.suite, out, with_defaults=with_defaults,
                                                 studies=studies, baseline=baseline)
            if written:
                self.say(f"tuned leaderboard: {', '.join(str(p) for p in written)}")
        return errors


def _seeds(seeds: Sequence[int]) -> str:
    if len(seeds) == 1:
        return f"trial seed {seeds[0]}"
    return f"trial seeds {', '.join(map(str, seeds))}, objective their mean"
