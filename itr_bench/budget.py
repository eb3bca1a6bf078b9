"""A run's training budget: optimizer steps and image-caption pairs, per stage and in total.

Epochs are not a budget by themselves: what a model learns from is the steps it takes and the
pairs it sees. Every layout gives an epoch ``N / B`` steps of ``B`` pairs (a paired batch is
``B/2`` anchors and their ``B/2`` mined negatives, :mod:`itr_bench.feed.feeding`), identity
batches ``identities / P`` steps of ``P x K`` pairs. The plan (``itr-bench run --dry-run``)
computes the budget from a run's config and its training split; a record keeps the one it
trained (:func:`recorded`), counted from its history, so records made before the budget was
stored still show theirs on the leaderboard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the leaderboard reads budgets without importing torch
    from .api import Split
    from .config import RunConfig


@dataclass(frozen=True)
class StageBudget:
    """One stage's budget: its epochs, the optimizer steps they take and the pairs they feed."""

    epochs: int
    steps: int
    pairs: int


def per_epoch(config: RunConfig, train: Split, world_size: int = 1) -> tuple[int, int]:
    """``(steps, pairs per step)`` of one epoch of ``config`` on the training split ``train``."""
    images = len(train.samples)
    if config.images_per_split is not None:
        images = min(images, config.images_per_split)
    batch = config.batch_size * world_size
    if config.sampler == "identity":
        ids = {s.instance_id for s in list(train.samples)[:images]}
        identities = max(1, batch // config.samples_per_identity)
        return len(ids) // identities, identities * config.samples_per_identity
    return images // batch, batch


def planned(config: RunConfig, train: Split, world_size: int = 1) -> list[StageBudget]:
    """The budget ``config`` will train, stage by stage."""
    steps, pairs = per_epoch(config, train, world_size)
    return [StageBudget(stage.epochs, stage.epochs * steps, stage.epochs * steps * pairs) for stage in config.stages]


def recorded(record: Mapping[str, Any]) -> list[StageBudget] | None:
    """The budget a record trained, stage by stage, from its per-epoch history (None: no history).

    A stage's pairs are its steps times the global batch (``config.batch_size`` x ``world_size``).
    """
    history, config = record.get("history"), record.get("config")
    if not isinstance(history, list) or not history or not isinstance(config, Mapping):
        return None
    batch = int(config.get("batch_size", 0)) * int(record.get("world_size") or 1)
    stages: dict[int, list[int]] = {}
    for entry in history:
        if isinstance(entry, Mapping) and isinstance(entry.get("steps"), int):
            epochs_steps = stages.setdefault(int(entry.get("stage", 0)), [0, 0])
            epochs_steps[0] += 1
            epochs_steps[1] += entry["steps"]
    return [StageBudget(epochs, steps, steps * batch) for _, (epochs, steps) in sorted(stages.items())]


def as_record(stages: Sequence[StageBudget]) -> dict[str, Any]:
    """The record's ``budget``: per stage and in total."""
    return {"stages": [{"epochs": s.epochs, "steps": s.steps, "pairs": s.pairs} for s in stages],
            "steps": sum(s.steps for s in stages), "pairs": sum(s.pairs for s in stages)}


def leaderboard_columns(record: Mapping[str, Any]) -> dict[str, int | None]:
    """``steps`` and ``pairs`` of a record: its stored ``budget``, else counted from its history."""
    stored = record.get("budget")
    if isinstance(stored, Mapping) and isinstance(stored.get("steps"), int):
        return {"steps": stored["steps"], "pairs": stored.get("pairs")}
    stages = recorded(record)
    if not stages:
        return {"steps": None, "pairs": None}
    return {"steps": sum(s.steps for s in stages), "pairs": sum(s.pairs for s in stages)}


def describe(stages: Sequence[StageBudget]) -> str:
    """``"96 steps (32 + 64), 6,144 pairs"``: the total, then each stage's steps when there are several."""
    steps = sum(s.steps for s in stages)
    split = f" ({' + '.join(str(s.steps) for s in stages)})" if len(stages) > 1 else ""
    return f"{steps} steps{split}, {sum(s.pairs for s in stages):,} pairs"


def plan(runs: Sequence[Any], registry: Any) -> dict[str, str]:
    """Each planned run's budget in words (:func:`describe`), by label, for ``--dry-run``.

    Datasets are loaded once per (dataset, root, options), annotations only; one that cannot be
    loaded (no root given) leaves its runs' budgets unsaid, which :func:`itr_bench.suites.plan.check_datasets`
    already explains.
    """
    from pathlib import Path

    from .errors import ItrBenchError

    trains: dict[tuple, Split | None] = {}
    out = {}
    for run in runs:
        config = run.config
        key = (config.dataset, config.root, repr(sorted(config.dataset_options.items())))
        if key not in trains:
            root = Path(config.root).expanduser() if config.root else None
            try:
                trains[key] = registry.build("dataset", config.dataset, root, options=config.dataset_options,
                                             where=run.label, key="dataset_options").split("train")
            except ItrBenchError:
                trains[key] = None
        train = trains[key]
        out[run.label] = "budget unknown (dataset not loaded)" if train is None else describe(planned(config, train))
    return out
