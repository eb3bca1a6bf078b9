"""Tiny run and suite config files, written from the few keys a test changes (test support).

Tests that drive the real command line need a config file, and theirs differ from one another
in a key or two: each states only those, and what they share (the tiny or shrunk dual-path
encoders, 16-pixel images, batches of 16 on the CPU, a small synthetic dataset) is written here.
A key given as None is left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import tomlkit

#: The tiny encoders of tiny_models.py (their plugin must be registered).
TINY = {"image_encoder": "tiny-image", "text_encoder": "tiny-text"}
#: The built-in dual-path encoders shrunk to a few thousand parameters (word vectors from the train split).
DUALPATH = {
    "image_encoder": "dualpath-image", "image_options": {"backbone": "resnet18", "width": 0.0625},
    "text_encoder": "dualpath-textcnn",
    "text_options": {"width": 0.0625, "blocks": [1, 1, 1, 1], "word2vec": "train", "word2vec_min_count": 1},
}
#: Sizes and placement every tiny config shares.
SMALL = {"image_size": 16, "batch_size": 16, "device": "cpu"}


def synthetic(train: int = 32, val: int = 16, test: int = 16) -> dict[str, Any]:
    """The synthetic dataset's options for a split of ``train``/``val``/``test`` 16-pixel images."""
    return {"train": train, "val": val, "test": test, "image_size": 16}


def stage(losses: Mapping[str, float], epochs: int = 1, **fields: Any) -> dict[str, Any]:
    """One training stage (``stage({"instance": 1.0}, lr=0.1)``)."""
    return {"epochs": epochs, **fields, "losses": dict(losses)}


def write_run(path: Path, cache: Path | str, *, stages: Sequence[Mapping[str, Any]], name: str = "one",
              encoders: Mapping[str, Any] = TINY, dataset: str = "synthetic",
              dataset_options: Mapping[str, Any] | None = None, **fields: Any) -> Path:
    """Write an ``itr-bench train`` config to ``path`` (prepared data cached under ``cache``)."""
    options = synthetic() if dataset_options is None and dataset == "synthetic" else dataset_options
    run = {"name": name, "dataset": dataset, "dataset_options": options, **encoders, **SMALL,
           "cache_dir": str(cache), **fields}
    return _write(path, {"run": run, "stages": list(stages)})


def write_suite(path: Path, cache: Path | str, *, runs: Sequence[Mapping[str, Any]], name: str = "mini",
                datasets: Sequence[str] = ("synthetic",), seeds: Sequence[int] = (0,),
                suite: Mapping[str, Any] | None = None, encoders: Mapping[str, Any] = TINY,
                dataset_options: Mapping[str, Any] | None = None, **defaults: Any) -> Path:
    """Write a suite to ``path``: ``[suite]`` (``suite`` adds keys), ``[defaults]`` (the shared
    settings, no untrained baseline, then ``defaults``) and one ``[[runs]]`` table per run."""
    options = synthetic() if dataset_options is None and list(datasets) == ["synthetic"] else dataset_options
    table = {"suite": {"name": name, "datasets": list(datasets), "seeds": list(seeds), **(suite or {})},
             "defaults": {**encoders, **SMALL, "cache_dir": str(cache), "untrained_baseline": False,
                          "dataset_options": options, **defaults},
             "runs": [dict(run) for run in runs]}
    return _write(path, table)


def _write(path: Path, table: Mapping[str, Any]) -> Path:
    path.write_text(tomlkit.dumps(_present(table)))
    return path


def _present(value: Any) -> Any:
    """``value`` without the keys given as None (at any depth)."""
    if isinstance(value, Mapping):
        return {k: _present(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_present(v) for v in value]
    return value
