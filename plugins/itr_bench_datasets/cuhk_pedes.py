"""CUHK-PEDES (Li et al. 2017) from ``reid_raw.json``: person search, matched by identity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar

from annotated_types import Ge

from itr_bench.api import Dataset, Protocol, Sample, Split, TextSpec
from itr_bench.errors import ConfigError

from .parsing import clean_captions, field, load_json, require_file, require_root, source_fingerprint
from .read_once import SplitsReadOnce

ANNOTATION_FILE = "reid_raw.json"
IMAGE_DIR = "imgs"
SPLIT_NAMES = ("train", "val", "test")
#: The official split by file order (prepare_imdb.m): images per train / val / test.
OFFICIAL_SIZES = (34054, 3078, 3074)


class CuhkPedes(SplitsReadOnce, Dataset):
    """CUHK-PEDES: 40,206 images of 13,003 persons, about 2 captions each; identity protocol.

    Records carry ``file_path`` (under ``imgs/``), ``captions`` and the person ``id``. When they
    also carry ``split`` (IRRA's copy of the file) it is used; otherwise the file is cut by
    order into ``split_sizes`` images (the official 34054/3078/3074), as the official code does.
    ``instance_id`` is the person, renumbered 0..C-1 within each split (on train: the classes).

    Args:
        split_sizes: train, val and test image counts when the records carry no split.
        image_dir: the image folder under the root.
    """

    # docs/paper-recipe.md row 36 (prepare_wordcnn_feature2.m): Flickr's separators, up to 56 words.
    text: ClassVar[TextSpec] = TextSpec(separators=" -.,()", lowercase=False, max_words=56)
    hints: ClassVar[Mapping[str, Any]] = {"dropout": 0.8, "negatives": "random"}

    def __init__(
        self,
        root: Path | str | None,
        *,
        split_sizes: Sequence[Annotated[int, Ge(1)]] = OFFICIAL_SIZES,
        image_dir: str = IMAGE_DIR,
    ) -> None:
        self.root = require_root(root, "cuhk-pedes")
        self.annotations = require_file(self.root / ANNOTATION_FILE, "CUHK-PEDES annotation file")
        self.image_dir = self.root / image_dir
        self.split_sizes = tuple(int(n) for n in split_sizes)
        if len(self.split_sizes) != 3:
            raise ConfigError(
                f"cuhk-pedes: split_sizes must give train, val and test sizes, got {split_sizes!r}"
            )

    def read_splits(self) -> dict[str, Split]:
        records = load_json(self.annotations)
        if not isinstance(records, list) or not records:
            raise ConfigError(f"{self.annotations}: expected a non-empty list of image records")
        members: dict[str, list[tuple[int, Sample]]] = {name: [] for name in SPLIT_NAMES}
        assigned = self._splits_by_record(records)
        seen: dict[str, int] = {}
        for k, record in enumerate(records):
            where = f"record {k}"
            path = field(record, "file_path", self.annotations, where, str)
            person = field(record, "id", self.annotations, where, int)
            captions = clean_captions(
                field(record, "captions", self.annotations, where, list),
                self.annotations,
                f"{where} ({path})",
            )
            if path in seen:
                raise ConfigError(
                    f"{self.annotations}: {where} repeats image {path} (first in record {seen[path]})"
                )
            seen[path] = k
            members[assigned[k]].append((person, Sample(self.image_dir / path, captions, 0, path)))
        return {name: Split(name, _by_person(pairs), Protocol.IDENTITY) for name, pairs in members.items()}

    def _splits_by_record(self, records: list[Any]) -> list[str]:
        has_split = [isinstance(r, dict) and "split" in r for r in records]
        if all(has_split):
            out = []
            for k, record in enumerate(records):
                split = record["split"]
                if split not in SPLIT_NAMES:
                    raise ConfigError(
                        f"{self.annotations}: record {k} has split {split!r}, expected train, val or test"
                    )
                out.append(split)
            return out
        if any(has_split):
            raise ConfigError(
                f"{self.annotations}: record {has_split.index(False)} has no field 'split' but others do"
            )
        if len(records) != sum(self.split_sizes):
            raise ConfigError(
                f"{self.annotations}: {len(records)} records, but the split by file order expects "
                f"{'+'.join(map(str, self.split_sizes))}={sum(self.split_sizes)} (set split_sizes)"
            )
        n_train, n_val, _ = self.split_sizes
        return [
            "train" if k < n_train else "val" if k < n_train + n_val else "test" for k in range(len(records))
        ]

    def fingerprint(self) -> str:
        files = [self.annotations] + ([self.image_dir] if self.image_dir.is_dir() else [])
        return source_fingerprint("cuhk-pedes", {"split_sizes": self.split_sizes}, files)


def _by_person(pairs: list[tuple[int, Sample]]) -> list[Sample]:
    """Samples with instance ids renumbered 0..C-1 in order of person id."""
    index = {person: i for i, person in enumerate(sorted({p for p, _ in pairs}))}
    return [Sample(s.image, s.captions, index[p], s.image_id) for p, s in pairs]
