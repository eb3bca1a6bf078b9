"""``captions``: the user's own image-caption collection, from the formats open_clip and Hugging Face made common.

Rows are read by :mod:`.caption_sources`; here they become images (rows naming the same image
are one image with several captions), images are checked once (the file exists and is an
image), and the splits are taken from a split column or drawn with a seed.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar

import numpy as np
from annotated_types import Ge, Gt, Lt
from PIL import Image, UnidentifiedImageError

from itr_bench.api import Dataset, Protocol, Sample, Split, TextSpec
from itr_bench.errors import ConfigError
from itr_bench.names import check_name

from .caption_sources import DEFAULT_KEYS, Keys, Row, Source, find_source, read_rows
from .parsing import numbered, source_fingerprint
from .read_once import SplitsReadOnce

SPLITS = ("train", "val", "test")
#: Split column values and what they mean (Hugging Face calls val "validation").
SPLIT_VALUES: Mapping[str, str] = {
    "train": "train", "training": "train",
    "val": "val", "valid": "val", "validation": "val", "dev": "val",
    "test": "test", "testing": "test",
}


@dataclass
class _Image:
    """Rows grouped under one image key."""

    row: Row  # the first row naming the image: where errors point
    #: train/val/test from the split column (None without one).
    split: str | None
    captions: list[str] = field(default_factory=list)


class Captions(SplitsReadOnce, Dataset):
    """Your own captions: a CSV/TSV or JSONL file, or a Hugging Face dataset, read from a local root.

    A caption field may hold a list of captions and several rows may name one image; image
    paths are relative to the file or absolute. Without a split column, val and test are drawn
    with ``seed``; the split units are images, or instances when there are some. With an
    instance column, every image of one identity matches every caption of it (the identity
    protocol, as person search).

    Args:
        file: the source, relative to the root (default: the root itself when it is a file, else
            the save_to_disk dataset, imagefolder or single .csv/.tsv/.jsonl there).
        image_key: the image column (default 'filepath' as open_clip for tables, 'image' for Hugging Face).
        caption_key: the caption column (default 'title' for tables, 'text' for Hugging Face).
        split_key: a column of train/val/test (validation and dev mean val); default 'split'.
        instance_key: a column of identities; default 'instance'.
        separator: the CSV field separator (default ',', a tab for .tsv).
        name: the name results and leaderboards carry (default 'captions').
        val_size: validation images (a count, or a fraction below 1; default 0.1) when there is no split column.
        test_size: test images (a count, or a fraction below 1; default 0.1) when there is no split column.
        seed: seed of the drawn val/test split.
        folds: cut the test split into this many equal parts and average.
    """

    # The paper's Flickr rules (split on "- space . , ( )", case-sensitive, 32 words): a
    # neutral default for English captions.
    text: ClassVar[TextSpec] = TextSpec(separators=" -.,()", lowercase=False, max_words=32)

    def __init__(
        self,
        root: Path | str | None,
        *,
        file: str | None = None,
        image_key: str | None = None,
        caption_key: str | None = None,
        split_key: str | None = None,
        instance_key: str | None = None,
        separator: str | None = None,
        name: str | None = None,
        val_size: Annotated[int, Ge(1)] | Annotated[float, Gt(0), Lt(1)] | None = None,
        test_size: Annotated[int, Ge(1)] | Annotated[float, Gt(0), Lt(1)] | None = None,
        seed: Annotated[int, Ge(0)] = 0,
        folds: Annotated[int, Ge(1)] = 1,
    ) -> None:
        if root is None:
            raise ConfigError("captions: no root given (pass --root DIR, a folder or a caption file)")
        self.root = Path(root)
        if not self.root.exists():
            raise ConfigError(f"{self.root}: captions root does not exist")
        self.source: Source = find_source(self.root, file)
        image_default, caption_default = DEFAULT_KEYS[self.source.family]
        required = {option for option, value in (("split_key", split_key), ("instance_key", instance_key)) if value}
        self.keys = Keys(
            image=image_key or image_default,
            caption=caption_key or caption_default,
            split=split_key or "split",
            instance=instance_key or "instance",
            required=frozenset(required),
        )
        self.name = None if name is None else check_name(name, "captions", "option name")
        self.separator = separator
        self.sizes = {"val": val_size, "test": test_size}
        self.seed = seed
        self.folds = folds

    @property
    def hints(self) -> Mapping[str, Any]:  # type: ignore[override]  # depends on the data, not the class
        """The paper's negatives for the protocol the data has: the hardest of the captions
        outside the batch (Flickr/COCO), or a random pair of another identity (CUHK-PEDES)."""
        identity = any(split.protocol is Protocol.IDENTITY for split in self.splits().values())
        return {"negatives": "random" if identity else "hardest"}

    def read_splits(self) -> dict[str, Split]:
        rows = read_rows(self.source, self.keys, self.separator)
        if not rows:
            raise ConfigError(f"{self.source.path}: no rows")
        images = _group(rows)
        for image in images.values():
            _check_image(image.row)
        identity = rows[0].instance is not None
        assigned = self._assign(images, identity)
        splits = {}
        for name in SPLITS:
            members = [(key, image) for key, image in images.items() if assigned[key] == name]
            if not members:
                continue
            samples = [Sample(m.row.image, tuple(m.captions), 0, key) for key, m in members]
            if identity:
                samples = _by_instance(samples, [m.row.instance for _, m in members])
            else:
                samples = numbered(samples)
            folds = self.folds if name == "test" else 1
            if len(samples) < folds:
                raise ConfigError(
                    f"captions: folds={folds} cuts the test split into {folds} parts, but it has {len(samples)} "
                    "images; use fewer folds"
                )
            splits[name] = Split(name, samples, Protocol.IDENTITY if identity else Protocol.IMAGE_CAPTION, folds)
        return splits

    def _assign(self, images: Mapping[str, _Image], identity: bool) -> dict[str, str]:
        """Image key -> split: from the split column, else seeded over images (or instances)."""
        if next(iter(images.values())).split is not None:
            given = [option for option, size in self.sizes.items() if size is not None]
            if given:
                raise ConfigError(
                    f"{self.source.path}: has a {self.keys.split!r} column, so {given[0]}_size would be "
                    "ignored; drop the option or the column"
                )
            return {key: image.split for key, image in images.items()}
        units = list(dict.fromkeys(image.row.instance if identity else key for key, image in images.items()))
        counts = {name: _count(size, len(units)) for name, size in self.sizes.items()}
        if counts["val"] + counts["test"] >= len(units):
            what = "instances" if identity else "images"
            raise ConfigError(
                f"{self.source.path}: {len(units)} {what} cannot give {counts['val']} to val and {counts['test']} to "
                "test and keep some for train; lower val_size/test_size"
            )
        order = np.random.default_rng(self.seed).permutation(len(units))
        unit_split = {}
        for position, index in enumerate(order):
            unit_split[units[index]] = (
                "test" if position < counts["test"] else "val" if position < counts["test"] + counts["val"] else "train"
            )
        return {key: unit_split[image.row.instance if identity else key] for key, image in images.items()}

    def fingerprint(self) -> str:
        options = {
            "file": str(self.source.path.resolve()),
            "keys": [self.keys.image, self.keys.caption, self.keys.split, self.keys.instance],
            "separator": self.separator,
            "sizes": self.sizes,
            "seed": self.seed,
            "folds": self.folds,
        }
        return source_fingerprint("captions", options, _source_files(self.source))


def _group(rows: Sequence[Row]) -> dict[str, _Image]:
    """Images by a unique id, in order of first appearance; rows of one image must agree on split and instance.

    The id is the image as the source names it, with ``#2``, ``#3``... appended when different
    embedded images share a file name.
    """
    by_identity: dict[tuple[str, str], _Image] = {}
    names: dict[str, int] = {}
    images: dict[str, _Image] = {}
    for row in rows:
        split = None if row.split is None else _split_value(row)
        image = by_identity.get(row.identity)
        if image is None:
            names[row.image_key] = names.get(row.image_key, 0) + 1
            unique = row.image_key if names[row.image_key] == 1 else f"{row.image_key}#{names[row.image_key]}"
            image = by_identity[row.identity] = images[unique] = _Image(row, split)
        else:
            for what, mine, theirs in (("split", split, image.split),
                                       ("instance", row.instance, image.row.instance)):
                if mine != theirs:
                    raise ConfigError(
                        f"{row.where}: image {row.image_key} has {what} {mine!r} here but {theirs!r} at {image.row.where}"
                    )
        image.captions.extend(row.captions)
    return images


def _check_image(row: Row) -> None:
    """The image exists and its header is an image's (a full decode happens once, when prepared)."""
    if isinstance(row.image, Path) and not row.image.is_file():
        raise ConfigError(f"{row.where}: image file {row.image} does not exist")
    try:
        with Image.open(row.image if isinstance(row.image, Path) else io.BytesIO(row.image)):
            pass
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        target = row.image if isinstance(row.image, Path) else f"image {row.image_key}"
        raise ConfigError(f"{row.where}: {target} is not a readable image ({type(exc).__name__})") from None


def _split_value(row: Row) -> str:
    value = SPLIT_VALUES.get(str(row.split).lower())
    if value is None:
        raise ConfigError(f"{row.where}: split {row.split!r} is not train, val or test (validation and dev mean val)")
    return value


def _by_instance(samples: list[Sample], instances: list[str | None]) -> list[Sample]:
    """Instance ids renumbered 0..C-1 in order of first appearance within the split."""
    index = {key: i for i, key in enumerate(dict.fromkeys(instances))}
    return [Sample(s.image, s.captions, index[key], s.image_id) for s, key in zip(samples, instances)]


def _source_files(source: Source) -> list[Path]:
    """What the cache key watches: the file, or a Hugging Face folder's data and metadata files."""
    if source.kind in ("csv", "jsonl"):
        return [source.path]
    if source.kind == "saved":
        return [source.path, *sorted(p for p in source.path.rglob("*") if p.is_file())]
    return [source.path, *sorted(p for p in source.path.rglob("metadata.*") if p.is_file())]


def _count(size: float | int | None, units: int) -> int:
    """Images (or instances) a split gets: a count as given, a fraction of ``units`` (default 0.1), at least 1."""
    if size is None:
        size = 0.1
    return size if isinstance(size, int) else max(1, round(size * units))
