"""What data a run read, as one string: the dataset's fingerprint plus its samples' contents.

A dataset's :meth:`~itr_bench.api.Dataset.fingerprint` covers its options and source files, but a
plugin may watch only its annotation file. So the identity adds what the samples themselves hold:
every caption's text (an edited caption file changes it whatever its size or time stamp), every
instance id and image id, and every image file by size and modification time (``st_mtime_ns``),
the rule make-like tools use: overwriting an image changes it, and so does ``touch`` (a false
alarm that ``--rerun-changed`` answers, never a stale result). Image contents are not hashed:
COCO's 19 GB would be read at every start. Embedded images (bytes) come from a file the
fingerprint names. A dataset that generates its samples (``generated = True``, the synthetic one)
has no files: its fingerprint, i.e. its options, is its identity, and it is not rendered to
compute it.

The prepared cache is keyed by this identity (:func:`itr_bench.data.prepare.cache_key`), so
changed images rebuild it, and every record stores it (``data_fingerprint``), so a finished run
whose data changed is ``changed`` like one whose config changed (:mod:`itr_bench.store.state`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ItrBenchError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..api import Dataset
    from ..config import RunConfig
    from ..registry import Registry


def data_fingerprint(dataset: Dataset) -> str:
    """``<dataset fingerprint>`` for generated data, else ``<fingerprint>+data-<digest>`` (see the module)."""
    base = dataset.fingerprint()
    if getattr(dataset, "generated", False):
        return base
    sha = hashlib.sha256(base.encode())
    for name, split in sorted(dataset.splits().items()):
        sha.update(f"\x00split {name} {split.protocol} {split.folds}".encode())
        for sample in split.samples:
            sha.update(repr((sample.image_id, sample.instance_id, tuple(sample.captions))).encode())
            sha.update(_image_stamp(sample.image).encode())
    return f"{base}+data-{sha.hexdigest()[:16]}"


def _image_stamp(image: Any) -> str:
    if isinstance(image, (str, Path)):
        try:
            stat = Path(image).stat()
        except OSError:  # a missing image is reported, naming it, when the cache is built
            return f"|{image}:missing"
        return f"|{image}:{stat.st_size}:{stat.st_mtime_ns}"
    return "|embedded"


def planned_data_fingerprint(config: RunConfig, registry: Registry, where: str) -> str | None:
    """The data identity the run of ``config`` would read; None when its dataset cannot be built
    here (the run itself then reports why, naming the dataset)."""
    from .subset import HeadSubset

    root = Path(config.root).expanduser() if config.root else None
    try:
        dataset = registry.build("dataset", config.dataset, root, options=config.dataset_options, where=where,
                                 key="dataset_options")
        if config.images_per_split is not None:
            dataset = HeadSubset(dataset, config.images_per_split)
        return data_fingerprint(dataset)
    except (ItrBenchError, OSError, ValueError):
        return None


def planned_data_fingerprints(configs: Iterable[tuple[RunConfig, str]], registry: Registry) -> list[str | None]:
    """:func:`planned_data_fingerprint` of each ``(config, where)``, each distinct dataset read once
    (a suite's runs and seeds share a few datasets)."""
    known: dict[str, str | None] = {}
    out = []
    for config, where in configs:
        key = repr((config.dataset, config.root, sorted(config.dataset_options.items()), config.images_per_split))
        if key not in known:
            known[key] = planned_data_fingerprint(config, registry, where)
        out.append(known[key])
    return out
