"""Per-split counts of a dataset (``itr-bench list datasets --stats``)."""

from __future__ import annotations

from typing import Any

from ..api import Dataset


def dataset_stats(dataset: Dataset) -> list[dict[str, Any]]:
    """One row per split: images, captions, instances, evaluation protocol and folds."""
    return [
        {
            "split": name,
            "images": len(split.samples),
            "captions": split.num_captions,
            "instances": split.num_instances,
            "protocol": split.protocol.value,
            "folds": split.folds,
        }
        for name, split in dataset.splits().items()
    ]
