"""Typed, validated configs read from TOML: a run (what ``itr-bench train`` takes) and its stages.

Every problem becomes one :class:`~itr_bench.errors.ConfigError` line naming the file, the key
path and the cause (``runs.toml: stages[1].epoch: unknown key, did you mean 'epochs'?``).
Component names are checked against the registry separately (:func:`check_components`), so
this module stays free of any concrete model, loss or dataset.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from annotated_types import Ge, Gt, Le, Lt

from .errors import ConfigError, ItrBenchError, did_you_mean
from .loss_contract import check_plan
from .metrics.declarations import DECLARED, DEFAULT_SELECT
from .names import check_name
from .options import value_problem

#: Share of the device's free memory one split's ``uint8`` images may take to be held there
#: (the run's ``feed_memory_fraction``; :mod:`itr_bench.feed.placement` applies it).
#: Half leaves the other half for the model, its optimiser state, activations at batch 128 and
#: the evaluation splits (an H100 with ~79 GB free then holds up to ~39 GB: COCO at 224 px, 17 GB).
DEVICE_MEMORY_FRACTION = 0.5

# ============================================================================================
# Valid values: every numeric field declares its limits in its annotation, checked when the
# config is read by the same checker as component options (itr_bench.options.value_problem)
# ============================================================================================

Positive = Annotated[float, Gt(0)]
NonNegative = Annotated[float, Ge(0)]
AtLeastOne = Annotated[int, Ge(1)]
#: numpy's and torch's seeds are unsigned 32-bit integers.
Seed = Annotated[int, Ge(0), Le(2**32 - 1)]
#: 8 px is the smallest image the cache accepts; beyond 4096 px a batch of images no longer
#: fits any accelerator (100000 px asked for terabytes and ended in a MemoryError).
ImageSize = Annotated[int, Ge(8), Le(4096)]
EmbedDim = Annotated[int, Ge(1), Le(65536)]
#: SGD momentum: 1 or more never forgets and diverges.
Momentum = Annotated[float, Ge(0), Lt(1)]
#: a decay multiplies the rate: 0 would stop training, more than 1 grows it.
Decay = Annotated[float, Gt(0), Le(1)]
Workers = Annotated[int, Ge(0), Le(1024)]
#: a share of something (0 to all of it).
Fraction = Annotated[float, Ge(0), Le(1)]


@dataclass(frozen=True)
class Declared:
    """One declaration checked outside a config (``prepare`` checks its ``image_size`` with it)."""

    kind: Any

    def problem(self, value: Any) -> str | None:
        """Why ``value`` does not fit the declaration (:func:`itr_bench.options.value_problem`), or None."""
        found = value_problem(value, self.kind)
        return None if found is None else found[1]


IMAGE_SIZE = Declared(ImageSize)


# ============================================================================================
# The configs
# ============================================================================================


@dataclass(frozen=True)
class StageConfig:
    """One training stage: which losses with which weights, for how long, at which rates."""

    epochs: AtLeastOne
    #: loss name -> weight; every term a loss returns is multiplied by its weight.
    losses: dict[str, NonNegative]
    lr: Positive = 0.1
    #: parameter-group prefix -> learning-rate multiplier; 0 freezes the group (and its BN
    #: statistics), e.g. ``{image = 0.0}`` for the paper's Stage I.
    lr_mult: dict[str, NonNegative] = field(default_factory=dict)
    #: epochs (counted within the stage) at which the learning rate is multiplied by lr_decay.
    lr_steps: list[AtLeastOne] = field(default_factory=list)
    lr_decay: Decay = 0.1
    optimizer: Literal["sgd", "adamw"] = "sgd"
    momentum: Momentum = 0.9
    nesterov: bool = True
    weight_decay: NonNegative = 1e-4
    #: max gradient norm; a negative one would flip the gradient and train uphill.
    grad_clip: Positive | None = None
    #: loss term name -> extra multiplier in this stage, e.g. ``{instance_text = 0.1}`` for the
    #: paper's Stage II (ranking 2 : image instance 1 : text instance 0.1). A loss is one object
    #: for the whole run (the instance loss keeps its classifier across stages), so per-stage
    #: changes are weights, never options.
    term_weights: dict[str, NonNegative] = field(default_factory=dict)


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run needs; a suite expands into many of these."""

    dataset: str
    stages: list[StageConfig]
    image_encoder: str
    text_encoder: str
    name: str = "run"
    root: str | None = None
    dataset_options: dict[str, Any] = field(default_factory=dict)
    #: keep only the first N images of each split (smoke runs on real data); None: every image
    images_per_split: AtLeastOne | None = None
    seed: Seed = 0
    image_options: dict[str, Any] = field(default_factory=dict)
    text_options: dict[str, Any] = field(default_factory=dict)
    #: common embedding width (None: the encoders' own, which must then agree).
    embed_dim: EmbedDim | None = None
    loss_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    batch_size: AtLeastOne = 32
    image_size: ImageSize = 224
    #: "epoch": each training image once per epoch with one random caption (the paper);
    #: "identity": P identities x K samples per batch (person search).
    sampler: Literal["epoch", "identity"] = "epoch"
    samples_per_identity: AtLeastOne = 4
    #: the training view on either feeding path (itr_bench.feed.transforms.VIEWS): the paper's
    #: random crop + flip of the central square ("paper-train") or of the whole image squashed
    #: to a square ("paper-train-squash").
    train_transform: Literal["paper-train", "paper-train-squash"] = "paper-train"
    #: the test view: central square ("test"), whole image squashed to a square ("test-squash")
    #: or whole image with its aspect kept ("test-full", batched by image shape).
    test_transform: Literal["test", "test-squash", "test-full"] = "test"
    #: apply the text encoder's training augmentation (the text CNN: the paper's sentence shift).
    text_augment: bool = True
    #: the registered negative sampler that fills the negative half of the batch for losses that
    #: read anchor k's negative from slot B/2 + k (the paper's ranking loss); None: the dataset's
    #: hint ``negatives``. A run with such a loss and neither is refused.
    negatives: str | None = None
    negative_options: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    precision: Literal["fp32", "bf16"] = "bf16"
    channels_last: bool = True
    compile: bool = False
    #: streaming worker processes that decode the cached JPEGs when a split is not held on the
    #: device (None: one per CPU core but one, ``itr_bench.feed.placement.default_workers``).
    #: Batches do not depend on it.
    workers: Workers | None = None
    #: share of the device's free memory a split's uint8 images may take to be held there
    #: (0: always stream); see ``itr_bench.feed.placement``. Batches do not depend on it.
    feed_memory_fraction: Fraction = DEVICE_MEMORY_FRACTION
    #: evaluate on val every N epochs (and after the last); the best ``select_metric`` is kept.
    eval_every: AtLeastOne = 1
    #: the declared metric (itr_bench.metrics.declarations) whose best validation value chooses
    #: the epoch that is tested; which way is better is declared with it.
    select_metric: str = DEFAULT_SELECT
    test_time_augmentation: bool = False
    #: where prepared datasets are cached (default: $ITR_BENCH_CACHE or ~/.cache/itr-bench).
    cache_dir: str | None = None
    #: evaluate the untrained model on the test split too: the chance level beside the result.
    untrained_baseline: bool = True
    #: false for a tuning trial (``itr-bench tune``): selected on validation and never scored on
    #: test, not even untrained; its record holds no test metrics and no leaderboard counts it.
    score_test: bool = True
    #: term -> weight that replaces the term's weight in every stage whose ``term_weights`` set
    #: it; stages that do not weight the term are unchanged. Meant for per-dataset weights in a
    #: suite's ``[datasets.<name>]`` table (a weight one stage of a run uses, e.g. a ranking
    #: stage's text term, while another stage keeps the default).
    override_term_weights: dict[str, NonNegative] = field(default_factory=dict)
    #: let a stage freeze (lr_mult 0) a group that starts from random weights, e.g. a CPU-sized
    #: trunk trained from scratch; refused otherwise (see :mod:`itr_bench.pretrained`).
    allow_frozen_random: bool = False

    def __post_init__(self) -> None:
        if self.override_term_weights:  # resolved once: records and the trainer see the stages as run
            stages = [dataclasses.replace(stage, term_weights={
                **stage.term_weights,
                **{term: w for term, w in self.override_term_weights.items() if term in stage.term_weights}})
                for stage in self.stages]
            object.__setattr__(self, "stages", stages)

    @property
    def total_epochs(self) -> int:
        return sum(stage.epochs for stage in self.stages)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ============================================================================================
# Reading and validating
# ============================================================================================


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file; a missing or malformed file is one ConfigError line."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file") from None


def load_run_config(path: Path | str) -> RunConfig:
    """A run config from a TOML file with a ``[run]`` table and ``[[stages]]``."""
    return build(RunConfig, read_run_mapping(path), str(path))


def read_run_mapping(path: Path | str) -> dict[str, Any]:
    """A run config file's keys as one mapping (``[run]``'s and ``stages``), not yet checked:
    what command-line overrides apply to before :func:`build`."""
    path = Path(path)
    data = read_toml(path)
    unknown = set(data) - {"run", "stages"}
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"{path}: {key}: unknown table, {did_you_mean(key, ['run', 'stages'])}")
    run = data.get("run", {})
    if not isinstance(run, Mapping):
        raise ConfigError(f"{path}: run: expected a table, got {_kind(run)}")
    return {**run, "stages": data.get("stages", [])}


def build(cls: type, data: Any, where: str, path: str = "") -> Any:
    """Check ``data`` against dataclass ``cls`` (keys, types, values) and construct it."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: {path or 'top level'}: expected a table, got {_kind(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls, include_extras=True)
    for key in data:
        if key not in fields:
            raise ConfigError(f"{where}: {_join(path, key)}: unknown key, {did_you_mean(key, fields)}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], where, _join(path, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: {_join(path, name)}: required key is missing")
    instance = cls(**kwargs)
    _check_together(instance, where, path)
    return instance


def _convert(hint: Any, value: Any, where: str, path: str) -> Any:
    """``value`` checked against its field's declaration (a nested config is built)."""
    if dataclasses.is_dataclass(hint):
        return build(hint, value, where, path)
    if typing.get_origin(hint) is list and dataclasses.is_dataclass(typing.get_args(hint)[0]):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: {path}: expected a list, got {_kind(value)}")
        return [build(typing.get_args(hint)[0], item, where, f"{path}[{i}]") for i, item in enumerate(value)]
    value = _as_declared(hint, value)
    found = value_problem(value, hint)
    if found is not None:
        raise ConfigError(f"{where}: {path}{found[0]}: {found[1]}")
    return value


def _as_declared(hint: Any, value: Any) -> Any:
    """An integer where the declaration says float becomes a float (TOML writes ``1`` for ``1.0``);
    a table becomes a dict with string keys; anything else is left for the checker."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Annotated:
        return _as_declared(args[0], value)
    if origin in (types.UnionType, typing.Union):
        arms = [arm for arm in args if arm is not type(None)]
        return _as_declared(arms[0], value) if len(arms) == 1 and value is not None else value
    if origin is list and isinstance(value, list):
        return [_as_declared(args[0], item) for item in value]
    if origin is dict and isinstance(value, Mapping):
        return {str(k): _as_declared(args[1], v) for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _check_together(instance: Any, where: str, path: str) -> None:
    """What one field's declaration cannot say: limits that depend on other fields."""
    if isinstance(instance, StageConfig):
        if not any(weight > 0 for weight in instance.losses.values()):
            raise ConfigError(f"{where}: {_join(path, 'losses')}: a stage needs at least one loss with a positive weight")
        if any(step <= 0 or step >= instance.epochs for step in instance.lr_steps):
            raise ConfigError(f"{where}: {_join(path, 'lr_steps')}: steps must lie within 1..{instance.epochs - 1}")
        if instance.optimizer == "sgd" and instance.nesterov and instance.momentum == 0:
            raise ConfigError(f"{where}: {_join(path, 'nesterov')}: Nesterov SGD needs momentum > 0 "
                              "(set nesterov = false or a momentum)")
    if isinstance(instance, RunConfig):
        if not instance.stages:
            raise ConfigError(f"{where}: {_join(path, 'stages')}: a run needs at least one stage")
        check_name(instance.name, where, _join(path, "name"))
        DECLARED.selection(instance.select_metric, where, _join(path, "select_metric"))


def check_components(config: RunConfig, registry: Any, where: str, path: str = "") -> None:
    """Every component the run names is registered and every option it gives is declared, of the
    declared type and in range; otherwise one line with suggestions.

    ``path`` prefixes the keys in messages (a suite's ``runs[2]``). Nothing is imported or built:
    the options are the factories' declared ones (:mod:`itr_bench.options`).
    """
    names = [("dataset", config.dataset, "dataset"), ("image_encoder", config.image_encoder, "image_encoder"),
             ("text_encoder", config.text_encoder, "text_encoder")]
    names += [("loss", loss, f"stages[{i}].losses.{loss}")
              for i, stage in enumerate(config.stages) for loss in stage.losses]
    if config.negatives is not None:
        names.append(("negative_sampler", config.negatives, "negatives"))
    for kind, name, key in names:
        check_registered(registry, kind, name, where, _join(path, key))
    for name, options in config.loss_options.items():  # a misspelled loss would be ignored silently
        check_registered(registry, "loss", name, where, _join(path, f"loss_options.{name}"))
        registry.get("loss", name).check_options(options, where, _join(path, f"loss_options.{name}"))
    for name in sorted({loss for stage in config.stages for loss in stage.losses} - set(config.loss_options)):
        registry.get("loss", name).check_options({}, where, _join(path, f"loss_options.{name}"))  # required ones
    for kind, name, key in (("dataset", config.dataset, "dataset_options"),
                            ("image_encoder", config.image_encoder, "image_options"),
                            ("text_encoder", config.text_encoder, "text_options")):
        registry.get(kind, name).check_options(getattr(config, key), where, _join(path, key))
    if config.negatives is not None:
        registry.get("negative_sampler", config.negatives).check_options(
            config.negative_options, where, _join(path, "negative_options"))
    check_plan(config, registry, where, path)


def check_registered(registry: Any, kind: str, name: str, where: str, key: str) -> None:
    """``name`` is a registered ``kind``; otherwise ``where: key: unknown ... did you mean``."""
    try:
        registry.get(kind, name)
    except ItrBenchError as exc:
        raise ConfigError(f"{where}: {key}: {exc}") from None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    return {dict: "a table", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number"}.get(type(value), type(value).__name__)
