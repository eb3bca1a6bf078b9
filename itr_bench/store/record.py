"""A run folder and its ``record.json``, defined once: the file names, every field, the reader.

The engine writes a :class:`RunRecord`; the store, the leaderboard and the ``train`` and ``run``
commands read it back with :func:`read_record`. Records are never rewritten, so readers meet
every format ever written: the fields marked *newer* are absent from older records (those
committed under ``leaderboards/records`` lack them), and every reader treats an absent field as
unknown, never as an error. A field present with the wrong type is one line naming the file and
the key (:class:`~itr_bench.errors.ItrBenchError`), whichever reader meets it.

This module imports neither torch nor pandas: every reader can afford it. (No ``from __future__
import annotations`` here: :class:`RunRecord`'s ``Required`` fields must be visible at run time.)
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Required, TypedDict

from ..budget import as_record, recorded
from ..errors import ItrBenchError
from ..names import check_name
from ..options import value_problem
from .files import read_json_file
from .record_ranges import METRICS, NonNegativeInteger, NonNegativeNumber, say_impossible

# --------------------------------------------------------------------------------------------
# The files of a run folder (``<store>/<suite>/<dataset>/<run>/seed-<n>/`` or ``train --out``)
# --------------------------------------------------------------------------------------------

#: The finished run's record, written atomically and last: its presence marks the run done.
RECORD = "record.json"
#: A suite run's failure note (``run``, ``suite``, ``dataset``, ``reason``).
FAILED = "failed.json"
#: The untrained model's test metrics, kept so a resumed run does not measure them again.
UNTRAINED = "untrained.json"
#: The run told in plain lines (:mod:`itr_bench.engine.runlog`).
LOG = "train.log"
#: Checkpoint folders: ``last/`` (everything to resume) and ``best/`` (the selected weights).
LAST, BEST = "last", "best"
#: A checkpoint folder's two files (:mod:`itr_bench.engine.checkpoint`).
CHECKPOINT_STATE, CHECKPOINT_TENSORS = "state.json", "tensors.safetensors"


class RunRecord(TypedDict, total=False):
    """The fields of ``record.json``. *Required*: in every record ever written; the rest may be absent."""

    # ---- which run -------------------------------------------------------------------------
    #: the run's name in its suite (the config's ``name``)
    run: Required[str]
    #: the name results carry: the dataset's own (``dataset_options.name``), else its registered name
    dataset: Required[str]
    seed: Required[int]
    #: the suite the run belongs to (absent for ``itr-bench train``)
    suite: str
    #: *newer*: the run's place in its suite, and the suite's baseline run (paired comparisons)
    run_index: int
    baseline: str
    # ---- what ran ------------------------------------------------------------------------------
    protocol: str
    folds: int
    image_encoder: str
    text_encoder: str
    #: per stage: epochs, losses and weights, term weights, lr multipliers; *newer*: the view each
    #: loss trained on (``inputs``), effective lr per group (``lr_groups``), the negative sampler
    objective: list[dict[str, Any]]
    #: *newer*: what the ``features`` view holds per encoder
    features_view: dict[str, str]
    #: *newer*: where each encoder's pretrained weights came from
    weights: dict[str, Any]
    #: *newer*: the negative sampler, its options and who chose it
    negatives: dict[str, Any] | None
    #: *newer*: how batches were fed (device-held or streamed)
    feed: dict[str, Any]
    #: *newer*: the crops and text augmentation actually applied
    augmentation: dict[str, str]
    #: *newer*: what the encoders did while built (word-vector source, seeds)
    encoders: dict[str, Any]
    epochs: int
    # ---- results -----------------------------------------------------------------------------
    #: the 1-based epoch whose validation ``select_metric`` was best; its weights were tested
    best_epoch: int
    #: *newer*: the declared metric that chose it (absent: ``rsum``, the only rule then)
    select_metric: str
    #: test metrics of the selected epoch (:mod:`itr_bench.metrics.declarations`)
    test: Required[dict[str, float]]
    #: validation metrics of the selected epoch
    val: dict[str, float]
    #: test metrics of the model before training (the chance level); None when not measured
    untrained: dict[str, float] | None
    #: *newer*: whether the validation or test embeddings collapsed, and the measures behind it
    degenerate: bool
    collapse: dict[str, Any]
    #: one entry per epoch: loss terms, pairs/s, learning rate, validation metrics
    history: list[dict[str, Any]]
    #: optimizer steps and pairs trained, per stage and in total (``itr_bench.budget``)
    budget: dict[str, Any]
    #: *newer*: every term's value at the first step of each stage
    stage_start_terms: list[dict[str, Any]]
    #: *newer*: digests that show two runs of a seed started alike
    init_digest: dict[str, str]
    first_batch_digest: str | None
    # ---- cost and provenance -------------------------------------------------------------------
    train_pairs_per_second: float | None
    train_seconds: float
    wall_seconds: float
    peak_memory_bytes: int
    device: str
    world_size: int
    itr_bench_version: str
    git_commit: str | None
    #: *newer*: each plugin that supplied a component; the software and machine
    plugins: dict[str, Any]
    environment: dict[str, Any]
    #: the run config as run (:class:`itr_bench.config.RunConfig`), and a short hash of it
    config: Required[dict[str, Any]]
    config_hash: str
    #: *newer*: the data the run read: fingerprint, captions and image stamps (:mod:`itr_bench.data.identity`)
    data_fingerprint: str
    # ---- tuning (:mod:`itr_bench.tuning`) ---------------------------------------------------
    #: *newer*, a tuning trial only (``config.score_test`` false, no ``test``): its study, number and params
    trial: dict[str, Any]
    #: *newer*, a run retrained at its tuned setting: best params, trials, best and median val score
    tuning: dict[str, Any]


#: Every field a record may hold.
FIELDS = frozenset(RunRecord.__annotations__)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def new_record(context: Mapping[str, Any], *, which: Mapping[str, Any], what_ran: Mapping[str, Any],
               results: Mapping[str, Any], cost: Mapping[str, Any], scored_test: bool) -> RunRecord:
    """A finished run's record from its parts (the sections of :class:`RunRecord`, in the order
    written), its ``budget`` counted from its history. ``context``: the suite's fields. A run not
    ``scored_test`` (a tuning trial) gets no test key at all, so nothing can read one. A field
    this module does not define is refused: every field a record holds is declared above."""
    record: dict[str, Any] = {**context, **which, **what_ran, **results, **cost}
    undeclared = sorted(set(record) - FIELDS)
    if undeclared:
        raise TypeError(f"record fields {undeclared} are not declared in RunRecord (itr_bench/store/record.py)")
    record["budget"] = as_record(recorded(record) or [])  # steps and pairs, per stage and in total
    if not scored_test:
        for key in ("test", "untrained"):
            record.pop(key)
        record["collapse"].pop("test")
    return record  # type: ignore[return-value]  # every key checked against RunRecord above


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

#: What an incomplete record says (the leaderboard never counts one).
INCOMPLETE = "an incomplete record is never counted"


#: The fields readers rely on, declared (:mod:`itr_bench.store.record_ranges`) and checked in this order
#: when present (null counts as absent) by the checker configs and options use.
DECLARED_FIELDS: dict[str, Any] = {
    "suite": str, "dataset": str, "run": str, "seed": NonNegativeInteger, "test": METRICS, "untrained": METRICS,
    "train_pairs_per_second": NonNegativeNumber, "wall_seconds": NonNegativeNumber,
    "run_index": NonNegativeInteger, "config_hash": str, "data_fingerprint": str, "baseline": str,
    "objective": list[dict[str, Any]], "degenerate": bool, "select_metric": str, "config": dict[str, Any],
}
#: The fields that name a folder, so they are also safe names (:func:`itr_bench.names.check_name`).
NAMES = frozenset({"suite", "dataset", "run"})


def check_field(path: Path | str, key: str, value: Any) -> None:
    """``value`` fits field ``key``'s declaration in :data:`DECLARED_FIELDS`; otherwise one line naming both."""
    if key in NAMES:  # the name rule says what a string is missing, or that it is not one
        check_name(value, str(path), key)
    found = value_problem(value, DECLARED_FIELDS[key], say=say_impossible)
    if found is not None:
        raise ItrBenchError(f"{path}: {key}{found[0]}: {found[1]}"[:300])


def read_record(path: Path | str, required: tuple[str, ...] = ()) -> RunRecord:
    """The record in ``path``: a JSON object whose fields in :data:`DECLARED_FIELDS` fit their declarations and
    whose ``required`` fields are present (a required ``test`` also non-empty); otherwise one line
    naming the file and the key."""
    path = Path(path)
    record = read_json_file(path)
    for key in DECLARED_FIELDS:
        if record.get(key) is not None:
            check_field(path, key, record[key])
    require(record, path, required)  # type: ignore[arg-type]
    return record  # type: ignore[return-value]  # checked above, field by field


def require(record: RunRecord, path: Path | str, required: tuple[str, ...]) -> None:
    """The ``required`` fields are present (a required ``test`` also non-empty); else one line."""
    for key in required:
        if record.get(key) is None:
            raise ItrBenchError(f"{path}: {key}: missing ({INCOMPLETE})")
        if key == "test" and not record[key]:
            raise ItrBenchError(f"{path}: test: no metrics ({INCOMPLETE})")


def validation_only(record: RunRecord) -> bool:
    """A tuning trial's record: selected on validation, never scored on test, never a leaderboard row."""
    config = record.get("config")
    return isinstance(config, Mapping) and config.get("score_test") is False
