"""The test split the runs were scored on, rebuilt from a run's config, and its thumbnails.

A record keeps its run config; the registry builds the dataset from ``dataset``, ``root`` and
``dataset_options`` (cut to ``images_per_split`` as the run did) and :func:`prepare` finds it in
the prepared-dataset cache (or prepares it once). The split must be the one the per-query results
were computed on (same digest): the page would otherwise show other images than were ranked.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ItrBenchError
from ..registry import Registry
from ..store.atomic import write_bytes
from ..store.per_query import split_digest
from .runs import ReportRun

#: Longest side of a thumbnail, in pixels.
THUMBNAIL = 128


@dataclass(frozen=True)
class ScoredSplit:
    """What the page shows of the split: every caption (in caption order), image ids and JPEG bytes."""

    captions: list[str]
    image_ids: list[str]
    image_bytes: Callable[[int], bytes]


def load_test_split(run: ReportRun, registry: Registry, progress: bool = True) -> ScoredSplit:
    """The test split of ``run``'s config, checked against the digest its per-query results carry."""
    from ..config import RunConfig, build
    from ..data.cache_location import cache_dir
    from ..data.prepare import prepare
    from ..data.subset import HeadSubset

    where = f"{run.record_path} config"
    config = build(RunConfig, run.record.get("config"), where)
    root = Path(config.root).expanduser() if config.root else None
    dataset = registry.build("dataset", config.dataset, root, options=config.dataset_options, where=where,
                             key="dataset_options")
    if config.images_per_split is not None:
        dataset = HeadSubset(dataset, config.images_per_split)
    split = prepare(dataset, cache_dir(config.cache_dir), config.image_size, progress=progress).split("test")
    captions_per_image = list(split.table["captions"])
    image_ids = [str(i) for i in split.table["image_id"]]
    if split_digest(image_ids, captions_per_image) != run.results.meta.get("split_digest"):
        raise ItrBenchError(f"{run.record_path.parent}: the test split its config builds today is not the one its "
                            "per-query results were scored on (the dataset changed); re-evaluate it with "
                            f"'itr-bench evaluate {run.record_path.parent}'")
    table = split.table
    return ScoredSplit([c for captions in captions_per_image for c in captions], image_ids,
                     lambda index: table[int(index)]["image"])


def write_thumbnails(split: ScoredSplit, indices: Iterable[int], folder: Path,
                     warn: Callable[[str], None]) -> dict[int, str | None]:
    """Each image's thumbnail as ``folder/<index>.jpg``; its path relative to ``folder.parent``, or
    None (the page shows a placeholder) with a warning when its image cannot be read."""
    from PIL import Image, UnidentifiedImageError

    paths: dict[int, str | None] = {}
    for index in sorted(set(indices)):
        try:
            with Image.open(io.BytesIO(split.image_bytes(index))) as image:
                image = image.convert("RGB")
                image.thumbnail((THUMBNAIL, THUMBNAIL))
                buffer = io.BytesIO()
                image.save(buffer, format="JPEG", quality=85)
        except (OSError, UnidentifiedImageError, ValueError, TypeError) as exc:
            warn(f"image {index} (id {split.image_ids[index]}): cannot be read ({' '.join(str(exc).split())}); "
                 "shown as a placeholder")
            paths[index] = None
            continue
        write_bytes(folder / f"{index}.jpg", buffer.getvalue())
        paths[index] = f"{folder.name}/{index}.jpg"
    return paths
