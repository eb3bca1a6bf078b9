"""Suites: named runs x datasets x seeds, expanded into run configs (running them:
:mod:`itr_bench.suites.executors`).

A suite file (TOML, or a mapping a plugin registers) has three parts::

    [suite]                      # name, datasets, seeds (optional: description, baseline, jobs)
    [defaults]                   # any run-config key, shared by every run
    [datasets.flickr8k]          # optional per-dataset keys (root, dataset_options, image_size...)
    [[runs]]                     # name + run-config keys; or name + each_loss = true

``each_loss = true`` expands one entry into a run per registered loss (third-party losses
included), each trained alone with weight 1; ``loss_options`` apply per loss name.

The run store holds one folder per run, ``<store>/<suite>/<dataset>/<run>/seed-<n>/``, whose
``record.json`` (written atomically, last) marks it finished. Re-running a suite skips finished
runs and resumes unfinished ones from their last checkpoint, so a suite killed at any moment
loses at most one epoch; but only when the stored config equals the planned one (see
:mod:`itr_bench.store.state`): a run trained under other settings is refused, or retrained with
``--rerun-changed``. A process owns a run folder while it trains it (:mod:`itr_bench.store.locking`),
so several processes on one store share its runs. A run that fails, for any reason, writes
``failed.json`` with the reason and the suite goes on; the next invocation tries it again.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import RunConfig, build, check_components, check_registered, read_toml
from ..errors import ConfigError, ItrBenchError, did_you_mean
from ..names import check_name
from ..overrides import Overrides, blamed_on, merge_tables
from ..overrides import apply as apply_overrides
from ..pretrained import check_pretrained
from ..registry import Registry
from ..store.files import ensure_inside
from ..store.record import RECORD
from ..store.state import FolderState, inspect_folder
from ..trackers import check_trackers, parse_report_to

SUITE_KEYS = {"name", "datasets", "seeds", "description", "baseline", "report_to", "jobs"}
#: ``tune``: the search ``itr-bench tune`` runs (checked by :mod:`itr_bench.tuning.space`; ``run`` ignores it)
TOP_KEYS = {"suite", "defaults", "datasets", "runs", "tune"}


@dataclass(frozen=True)
class PlannedRun:
    """One cell of the suite: its config and where its results go."""

    suite: str
    run: str
    dataset: str
    seed: int
    config: RunConfig
    folder: Path
    #: The run's position in the suite (after ``each_loss`` expansion) and the suite's baseline
    #: run, which the leaderboard compares every other run against (see ``baseline_of``).
    index: int = 0
    baseline: str | None = None
    #: The experiment trackers that follow the run (``--report-to``, else ``suite.report_to``):
    #: not part of its config, so they never change what counts as the same run.
    report_to: tuple[str, ...] = ()
    #: more fields for its record (a tuned run's ``tuning``: :mod:`itr_bench.tuning`)
    record_fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.dataset}/{self.run}/seed-{self.seed}"

    @property
    def finished(self) -> bool:
        """A record is there (whether it matches the planned config is :meth:`state`'s question)."""
        return (self.folder / RECORD).is_file()

    def state(self, data: str | None = None) -> FolderState:
        """The folder against this run's config (and ``data``, its data identity when known):
        done, todo, changed or damaged (reads JSON only)."""
        return inspect_folder(self.folder, self.config, data)


def load_suite(spec: str, registry: Registry) -> tuple[dict[str, Any], str]:
    """The suite mapping and a name for error messages, from a registered name or a TOML path."""
    path = Path(spec)
    if spec.endswith(".toml") or path.is_file():
        return read_toml(path), str(path)
    info = registry.get("suite", spec)
    data = info.create()
    if isinstance(data, (str, Path)):
        return read_toml(Path(data)), f"suite {spec!r} ({data})"
    if not isinstance(data, Mapping):
        raise ConfigError(f"suite {spec!r} from plugin {info.plugin!r} is not a mapping or a TOML path")
    return copy.deepcopy(dict(data)), f"suite {spec!r}"


def expand(
    data: Mapping[str, Any],
    registry: Registry,
    where: str,
    store: Path,
    *,
    datasets: Mapping[str, Mapping[str, Any]] | None = None,
    seeds: Iterable[int] | None = None,
    only_datasets: Iterable[str] | None = None,
    check_weights: bool = True,
    fetch_hint: str | None = None,
    overrides: Overrides = Overrides(),
    notes: list[str] | None = None,
    report_to: list[str] | None = None,
) -> list[PlannedRun]:
    """Every (run, dataset, seed) of the suite as a validated :class:`PlannedRun`.

    ``datasets`` adds per-dataset keys from the command line (``root``) over the file's;
    ``seeds`` and ``only_datasets`` override the suite's lists; ``overrides`` (``--set``,
    ``--set-run``) apply to each run over all of the suite's layers, and what they change
    beyond their own keys is appended to ``notes`` (once each). ``check_weights`` refuses, now
    rather than after data preparation, runs whose pretrained weights are missing or that
    freeze a random trunk (:func:`itr_bench.pretrained.check_pretrained`; ``fetch_hint`` is the
    command the message shows); ``itr-bench fetch-weights`` plans without it. ``report_to``
    (``--report-to``) replaces the suite's ``report_to`` trackers; a tracker that is not
    registered or whose package is missing is refused here.
    """
    _check_keys(data, TOP_KEYS, where, "")
    suite = data.get("suite", {})
    _check_keys(suite, SUITE_KEYS, where, "suite")
    name = suite.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: suite.name: required, a non-empty string")
    check_name(name, where, "suite.name")  # it becomes a folder of the store
    suite_datasets = list(only_datasets or suite.get("datasets", []))
    if not suite_datasets or not all(isinstance(d, str) for d in suite_datasets):
        raise ConfigError(f"{where}: suite.datasets: required, a list of dataset names")
    seed_list = list(seeds if seeds is not None else suite.get("seeds", [0]))
    if not seed_list or not all(isinstance(s, int) and not isinstance(s, bool) for s in seed_list):
        raise ConfigError(f"{where}: suite.seeds: a list of integers")
    suite_jobs(suite, where)
    trackers = tuple(check_trackers(report_to if report_to is not None else
                                    parse_report_to(suite.get("report_to"), f"{where}: suite.report_to"),
                                    registry, "--report-to" if report_to is not None else f"{where}: suite.report_to"))
    defaults = data.get("defaults", {})
    per_dataset = data.get("datasets", {})
    runs = data.get("runs")
    if not isinstance(runs, list) or not runs:
        raise ConfigError(f"{where}: runs: a suite needs at least one [[runs]] entry")
    for dataset in suite_datasets:
        check_name(dataset, where, "suite.datasets")
        check_registered(registry, "dataset", dataset, where, "suite.datasets")
    planned, seen = [], set()
    entries = _expand_each_loss(runs, registry, where)
    baseline = baseline_of(suite, entries, where, runs)
    run_names = [entry.get("name") for entry in entries if isinstance(entry.get("name"), str)]
    overrides.check_runs(run_names)
    for index, entry in enumerate(entries):
        run_name = entry.get("name")
        if not isinstance(run_name, str) or not run_name:
            raise ConfigError(f"{where}: runs[{index}].name: required, a non-empty string")
        check_name(run_name, where, f"runs[{index}].name")
        if run_name in seen:
            raise ConfigError(f"{where}: runs[{index}].name: {run_name!r} is used twice")
        seen.add(run_name)
        for dataset in suite_datasets:
            for seed in seed_list:
                merged = merge_tables(defaults, per_dataset.get(dataset, {}), (datasets or {}).get(dataset, {}), entry,
                                {"dataset": dataset, "seed": seed})
                own = overrides.for_run(run_name, run_names)
                merged, changed = apply_overrides(merged, own, f"the suite's run {run_name!r}")
                if notes is not None:
                    notes.extend(note for note in changed if note not in notes)
                at = f"{where}: run {run_name!r}"  # after each_loss expansion, the index alone is not the file's
                with blamed_on(own, at, f"runs[{index}]"):
                    config = build(RunConfig, merged, at, f"runs[{index}]")
                    check_components(config, registry, at, f"runs[{index}]")
                    if check_weights:
                        check_pretrained(config, registry, at, f"runs[{index}]", fetch_hint)
                folder = ensure_inside(store, store / name / dataset / run_name / f"seed-{seed}")
                planned.append(PlannedRun(name, run_name, dataset, seed, config, folder, index, baseline, trackers))
    return planned


def suite_jobs(suite: Mapping[str, Any], where: str) -> int:
    """``suite.jobs``: how many runs the local executor trains at once (default 1), each on its
    share of the CPU threads (:func:`itr_bench.suites.executors.execute_parallel`). Meant for
    suites of small CPU runs, whose operations are too small for more threads to split well; a
    suite of large runs keeps 1 (each process holds its own model and data)."""
    jobs = suite.get("jobs", 1)
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ConfigError(f"{where}: suite.jobs: a whole number of runs at once, at least 1, got {jobs!r}")
    return jobs


#: The baseline of a suite whose first entry is ``each_loss`` and that names none: the built-in
#: ``ranking`` loss (VSE++'s hinge, the reference retrieval losses are compared with), so the
#: baseline never depends on which loss plugins are installed or how their names sort.
EACH_LOSS_REFERENCE = "ranking"


def baseline_of(suite: Mapping[str, Any], entries: list[dict[str, Any]], where: str,
                runs: list[Any] | None = None) -> str | None:
    """The row the leaderboard's paired differences are taken against: ``suite.baseline`` when it
    names a run; else, when the first of the raw ``runs`` is ``each_loss``, its
    :data:`EACH_LOSS_REFERENCE` run (never the first loss by name); else the first run."""
    names = [entry.get("name") for entry in entries]
    default = names[0] if names else None
    first = runs[0] if runs else None
    if isinstance(first, Mapping) and first.get("each_loss"):
        default = f"{first.get('name', '')}{EACH_LOSS_REFERENCE}"
        if "baseline" not in suite and default not in names:
            raise ConfigError(f"{where}: suite.baseline: required when the first runs are each_loss without "
                              f"{EACH_LOSS_REFERENCE!r} (skipped?); name the run to compare with")
    baseline = suite.get("baseline", default)
    if "baseline" in suite and baseline not in names:
        raise ConfigError(f"{where}: suite.baseline: {baseline!r} is not a run of the suite, "
                          f"{did_you_mean(str(baseline), [n for n in names if isinstance(n, str)])}")
    return baseline


def check_datasets(runs: Iterable[PlannedRun], registry: Registry) -> list[str]:
    """Load each distinct dataset of ``runs`` (annotations only, no image decoding) and check it.

    Returns one summary line per dataset. An unreadable source, a missing split or folds the
    test split cannot hold are one :class:`ConfigError` line here, before anything trains.
    """
    from ..data.checks import check_folds
    from ..engine.run import RUN_SPLITS

    lines, seen = [], set()
    for run in runs:
        config = run.config
        key = (config.dataset, config.root, repr(sorted(config.dataset_options.items())))
        if key in seen:
            continue
        seen.add(key)
        where = f"{run.label}: dataset {config.dataset!r}"
        root = Path(config.root).expanduser() if config.root else None
        try:
            dataset = registry.build("dataset", config.dataset, root, options=config.dataset_options,
                                     where=run.label, key="dataset_options")  # the error names the dataset
        except ItrBenchError as exc:
            if root is not None:
                raise
            # no root given: the plan is still worth showing; the run itself refuses to start
            lines.append(f"dataset {config.dataset}: not checked: {exc}")
            continue
        splits = dataset.splits()
        missing = [name for name in RUN_SPLITS if name not in splits]
        if missing:
            raise ConfigError(f"{where}: has no {', '.join(missing)} split (has {', '.join(splits)})")
        check_folds(splits, where)
        counts = ", ".join(f"{name} {len(splits[name].samples)}" for name in RUN_SPLITS)
        test = splits["test"]
        lines.append(f"dataset {dataset.label(config.dataset)} ({config.dataset}): {counts} images; "
                     f"test: {test.protocol.value}, {test.folds} fold{'s' if test.folds > 1 else ''}")
    return lines


def _expand_each_loss(runs: list[Any], registry: Registry, where: str) -> list[dict[str, Any]]:
    out = []
    for index, entry in enumerate(runs):
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: runs[{index}]: expected a table")
        entry = dict(entry)
        if not entry.pop("each_loss", False):
            out.append(entry)
            continue
        template = entry.pop("stage", {"epochs": 1})
        prefix = entry.pop("name", "")
        skip = set(entry.pop("skip_losses", []))
        for info in registry.list("loss"):
            if info.name in skip:
                continue
            stage = {**template, "losses": {info.name: 1.0}}
            out.append({**entry, "name": f"{prefix}{info.name}", "stages": [stage]})
    return out


def _check_keys(data: Any, allowed: set[str], where: str, path: str) -> None:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: {path or 'top level'}: expected a table")
    for key in data:
        if key not in allowed:
            raise ConfigError(f"{where}: {path + '.' if path else ''}{key}: unknown key, {did_you_mean(key, allowed)}")
