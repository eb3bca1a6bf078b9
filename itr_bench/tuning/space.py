"""A suite's ``[tune]`` table: how many trials, on which seed, and the space each run searches.

::

    [tune]
    trials = 12                 # every run of the suite gets exactly this many finished trials
    seed = 100                  # the seed trials train with; never one of the suite's seeds
                                # (a list, e.g. [100, 101]: each trial trains on every one and
                                # scores their mean validation, so one lucky seed does not choose)
    sampler_seed = 0            # TPE's seed
    pruner = "none"             # or "median": every run alike, on each validation evaluation
    [tune.space]                # dotted run-config keys shared by every run
    "stages.0.lr" = { low = 0.01, high = 0.3, log = true }
    "stages.0.weight_decay" = { low = 1e-5, high = 1e-3, log = true }
    "loss_options.infonce.temperature" = { low = 0.02, high = 0.2, log = true }  # narrows a declared range
    [tune.runs.instance-then-ranking.space]   # keys one run adds (its Stage II weights)
    "stages.1.losses.ranking" = { low = 0.05, high = 2.0, log = true }

Each run's own loss options that declare a :class:`~itr_bench.options.Search` range are added
to its space as ``loss_options.<loss>.<option>``; a ``loss_options`` key in the table narrows
(or moves, within the option's declared limits) that range for the runs that train the loss.
Every problem is one :class:`~itr_bench.errors.ConfigError` line naming the file and the key,
raised before anything trains.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import RunConfig, build, check_components
from ..errors import ConfigError, did_you_mean
from ..options import Search
from ..overrides import Override, apply, checked
from ..registry import Registry

TUNE_KEYS = ("trials", "seed", "sampler_seed", "pruner", "startup_trials", "space", "runs")
PRUNERS = ("none", "median")
DIMENSION_KEYS = ("low", "high", "log", "choices")
#: Keys a trial may not change: the budget every run gets alike, and what makes a trial a trial.
FIXED = {"seed": "trials train with tune.seed", "dataset": "the suite's datasets are fixed",
         "name": "a run's name is its [[runs]] entry's", "score_test": "trials are never scored on test",
         "untrained_baseline": "trials are never scored on test",
         "images_per_split": "every trial sees the same data", "dataset_options": "every trial sees the same data"}
#: Stage keys a trial may not change (the same epochs for every trial of every run).
FIXED_STAGE = {"epochs": "every trial trains the same epochs", "lr_steps": "the schedule is part of the budget"}


@dataclass(frozen=True)
class Dimension:
    """One searched key: a dotted run-config key and its range (a :class:`Search`), and who declared it."""

    key: str
    search: Search
    integer: bool = False
    #: "suite" (the [tune] table) or "loss <name>" (the option's declared range)
    source: str = "suite"

    def distribution(self):
        """The Optuna distribution of this key."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.search.categorical:
            return CategoricalDistribution(list(self.search.choices))
        if self.integer:
            return IntDistribution(int(self.search.low), int(self.search.high), log=self.search.log)
        return FloatDistribution(float(self.search.low), float(self.search.high), log=self.search.log)

    def as_dict(self) -> dict[str, Any]:
        search = ({"choices": list(self.search.choices)} if self.search.categorical
                  else {"low": self.search.low, "high": self.search.high, "log": self.search.log})
        return {"key": self.key, **search, "integer": self.integer, "source": self.source}


@dataclass(frozen=True)
class TuneSpec:
    """The ``[tune]`` table, checked."""

    trials: int
    #: the seeds every trial trains with (its objective: their mean); never one of the final seeds
    seeds: tuple[int, ...]
    sampler_seed: int
    pruner: str
    #: TPE's random start-up trials (None: Optuna's default, 10)
    startup_trials: int | None
    #: the table's own dimensions (shared keys and loss-option ranges), and per run the keys it adds
    space: tuple[Dimension, ...]
    runs: Mapping[str, tuple[Dimension, ...]]
    where: str

    @property
    def seed(self) -> int:
        """The first trial seed: the one a run is planned (and its study named) with."""
        return self.seeds[0]

    def with_trials(self, trials: int | None) -> TuneSpec:
        if trials is None:
            return self
        if trials < 1:
            raise ConfigError(f"--trials {trials}: must be at least 1")
        return dataclasses.replace(self, trials=trials)


def read_tune(data: Mapping[str, Any], where: str) -> TuneSpec:
    """The suite's ``[tune]`` table as a :class:`TuneSpec` (its run names: :func:`check_runs`)."""
    table = data.get("tune")
    if table is None:
        raise ConfigError(f"{where}: tune: the suite has no [tune] table (what to search: see docs/tuning.md)")
    _check_keys(table, TUNE_KEYS, where, "tune")
    trials = _integer(table.get("trials", 10), where, "tune.trials", 1)
    if "seed" not in table:
        raise ConfigError(f"{where}: tune.seed: required: the seed trials train with (not one of suite.seeds)")
    seeds = _trial_seeds(table["seed"], where)
    sampler_seed = _integer(table.get("sampler_seed", 0), where, "tune.sampler_seed", 0)
    startup = table.get("startup_trials")
    startup = None if startup is None else _integer(startup, where, "tune.startup_trials", 1)
    pruner = table.get("pruner", "none")
    if pruner not in PRUNERS:
        raise ConfigError(f"{where}: tune.pruner: {pruner!r} is not one of {', '.join(map(repr, PRUNERS))}")
    if pruner != "none" and len(seeds) > 1:
        raise ConfigError(f"{where}: tune.pruner: {pruner!r} prunes on one seed's evaluations; a trial on several "
                          "seeds (tune.seed a list) is scored on their mean at the end: use pruner = \"none\"")
    space = _dimensions(table.get("space", {}), where, "tune.space")
    runs_table = table.get("runs", {})
    _check_table(runs_table, where, "tune.runs")
    runs = {}
    for name, entry in runs_table.items():
        _check_keys(entry, ("space",), where, f"tune.runs.{name}")
        runs[name] = _dimensions(entry.get("space", {}), where, f"tune.runs.{name}.space")
    return TuneSpec(trials, seeds, sampler_seed, pruner, startup, space, runs, where)


def _trial_seeds(value: Any, where: str) -> tuple[int, ...]:
    """``tune.seed``: one seed, or a non-empty list of distinct seeds."""
    if not isinstance(value, list):
        return (_integer(value, where, "tune.seed", 0),)
    if not value:
        raise ConfigError(f"{where}: tune.seed: an empty list: name at least one seed")
    seeds = tuple(_integer(v, where, "tune.seed", 0) for v in value)
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{where}: tune.seed: {list(seeds)} repeats a seed: a trial would train the same run twice")
    return seeds


def check_runs(spec: TuneSpec, run_names: Sequence[str]) -> None:
    """Every ``[tune.runs.<run>]`` names a run of the suite (after ``each_loss`` expansion)."""
    for name in spec.runs:
        if name not in run_names:
            raise ConfigError(f"{spec.where}: tune.runs.{name}: the suite has no run {name!r}, "
                              f"{did_you_mean(name, run_names)}")


def check_seed(spec: TuneSpec, final_seeds: Sequence[int]) -> None:
    """Trials must not train on a seed the tuned runs are scored with: their selection would
    then have seen the very initialisations and batch orders it is judged on."""
    for seed in spec.seeds:
        if seed in final_seeds:
            raise ConfigError(f"{spec.where}: tune.seed: {seed} is one of the seeds the tuned runs are scored "
                              f"with ({', '.join(map(str, final_seeds))}); trials must train on another seed")


def run_space(spec: TuneSpec, run: str, config: RunConfig, registry: Registry) -> tuple[Dimension, ...]:
    """The dimensions run ``run`` searches, each checked against ``config`` (its base, untuned config).

    Shared keys and the run's own keys must apply to the run and give a valid config at both ends
    of their range; each loss the run trains adds its declared ranges, which the table may narrow.
    """
    own = [*spec.space, *spec.runs.get(run, ())]
    losses = sorted({name for stage in config.stages for name in stage.losses})
    narrowed = {d.key: d for d in own if d.key.startswith("loss_options.")}
    for dimension in narrowed.values():  # a range for a loss no run trains would be ignored silently
        _loss_option(dimension, registry, spec.where)
    out = [d for d in own if not d.key.startswith("loss_options.")]
    for loss in losses:
        for option in registry.get("loss", loss).options:
            key = f"loss_options.{loss}.{option.name}"
            if key in narrowed:
                out.append(narrowed.pop(key))
            elif option.search is not None:
                problem = option.search.problem(option)
                if problem is not None:  # the plugin's own declaration is wrong: say whose
                    info = registry.get("loss", loss)
                    raise ConfigError(f"{spec.where}: run {run!r}: loss {loss!r} (plugin {info.plugin!r}) option "
                                      f"{option.name!r}: {problem}")
                out.append(Dimension(key, option.search, _is_int(option), f"loss {loss}"))
    out += [d for d in narrowed.values() if d.key.split(".")[1] in losses]  # an option with no declared range
    for dimension in out:
        if dimension.source == "suite":
            _check_applies(dimension, config, registry, f"{spec.where}: {_table_of(spec, run, dimension)}", run)
    return tuple(out)


def used_losses(spec: TuneSpec, configs: Sequence[RunConfig], where: str) -> None:
    """Every ``loss_options`` range of the table names a loss some run trains."""
    trained = {name for config in configs for stage in config.stages for name in stage.losses}
    for dimension in spec.space:
        if dimension.key.startswith("loss_options.") and dimension.key.split(".")[1] not in trained:
            raise ConfigError(f"{where}: tune.space.{dimension.key!r}: no run of the suite trains loss "
                              f"{dimension.key.split('.')[1]!r}")


def apply_params(config: RunConfig, params: Mapping[str, Any], where: str) -> RunConfig:
    """``config`` with each dotted key of ``params`` set to its value (built and checked again)."""
    overrides = [checked(Override(where, f"{key}={value!r}", tuple(key.split(".")), value)) for key, value in
                 params.items()]
    data, _ = apply(config.as_dict(), overrides, f"run {config.name!r}")
    return build(RunConfig, data, where)


def fingerprint(config: RunConfig, dimensions: Sequence[Dimension], spec: TuneSpec, select_metric: str) -> str:
    """What makes a study this study: the run's base config, its space, the trial seed(s), sampler and
    pruner (not the trial count, which may grow). A study under another fingerprint is refused.
    One trial seed is stored as the number it always was, so studies made before lists keep theirs."""
    from ..run_identity import comparable, short_hash

    seed = spec.seed if len(spec.seeds) == 1 else list(spec.seeds)
    data = {"config": comparable(config), "space": [d.as_dict() for d in dimensions], "seed": seed,
            "sampler_seed": spec.sampler_seed, "pruner": spec.pruner, "startup_trials": spec.startup_trials,
            "select_metric": select_metric}
    return short_hash(data, 16)


# --------------------------------------------------------------------------------------------


def _dimensions(table: Any, where: str, path: str) -> tuple[Dimension, ...]:
    _check_table(table, where, path)
    out = []
    for key, entry in table.items():
        at = f"{path}.{key!r}" if "." in key else f"{path}.{key}"
        _check_keys(entry, DIMENSION_KEYS, where, at)
        parts = tuple(key.split("."))
        first, stage_key = parts[0], parts[2] if parts[0] == "stages" and len(parts) > 2 else None
        if first in FIXED or stage_key in FIXED_STAGE:
            why = FIXED.get(first) or FIXED_STAGE[stage_key]
            raise ConfigError(f"{where}: {at}: a trial cannot change {key!r}: {why}")
        checked(Override(f"{where}: {at}:", key, parts, None))  # an unknown run-config key is one line
        if "choices" in entry:
            choices = entry["choices"]
            if set(entry) != {"choices"} or not isinstance(choices, list) or len(choices) < 2:
                raise ConfigError(f"{where}: {at}: choices: a list of at least 2 values, without low/high/log")
            search, integer = Search(choices=tuple(choices)), False
        else:
            low, high, log = entry.get("low"), entry.get("high"), entry.get("log", False)
            if not isinstance(log, bool):
                raise ConfigError(f"{where}: {at}: log: expected true or false, got {log!r}")
            for name, value in (("low", low), ("high", high)):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ConfigError(f"{where}: {at}: {name}: required, a finite number (or give choices)")
            if not low < high:
                raise ConfigError(f"{where}: {at}: low {low!r} must be below high {high!r}")
            if log and low <= 0:
                raise ConfigError(f"{where}: {at}: a log range needs bounds > 0, got low {low!r}")
            search, integer = Search(low, high, log), isinstance(low, int) and isinstance(high, int)
        out.append(Dimension(key, search, integer, "suite"))
    return tuple(out)


def _loss_option(dimension: Dimension, registry: Registry, where: str):
    parts = dimension.key.split(".")
    at = f"{where}: tune.space.{dimension.key!r}"
    if len(parts) != 3:
        raise ConfigError(f"{at}: write loss_options.<loss>.<option>")
    loss, name = parts[1], parts[2]
    if loss not in registry.names("loss"):
        raise ConfigError(f"{at}: no loss {loss!r} is registered, {did_you_mean(loss, registry.names('loss'))}")
    options = registry.get("loss", loss).options
    option = options.get(name)
    if option is None:
        raise ConfigError(f"{at}: loss {loss!r} has no option {name!r}, {did_you_mean(name, options.names())}")
    problem = dimension.search.problem(option)
    if problem is not None:
        raise ConfigError(f"{at}: {problem}")
    return option


def _check_applies(dimension: Dimension, config: RunConfig, registry: Registry, at: str, run: str) -> None:
    """The key exists in the run and both ends of its range (each choice) give a valid run config."""
    values = dimension.search.choices or (dimension.search.low, dimension.search.high)
    for value in values:
        where = f"{at} = {value!r} (run {run!r})"
        tried = apply_params(config, {dimension.key: value}, where)
        check_components(tried, registry, where)


def _table_of(spec: TuneSpec, run: str, dimension: Dimension) -> str:
    where = "tune.space" if dimension in spec.space else f"tune.runs.{run}.space"
    return f"{where}.{dimension.key!r}"


def _is_int(option) -> bool:
    from ..options import _base

    return _base(option.type) is int


def _integer(value: Any, where: str, key: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigError(f"{where}: {key}: expected an integer >= {least}, got {value!r}")
    return value


def _check_table(data: Any, where: str, path: str) -> None:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: {path}: expected a table")


def _check_keys(data: Any, allowed: Sequence[str], where: str, path: str) -> None:
    _check_table(data, where, path)
    for key in data:
        if key not in allowed:
            raise ConfigError(f"{where}: {path}.{key}: unknown key, {did_you_mean(key, allowed)}")
