"""MS-COCO captions: Karpathy's split, the paper's seeded split, or a split by file."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from annotated_types import Ge

from itr_bench.api import Dataset, Protocol, Sample, Split, TextSpec
from itr_bench.errors import ConfigError

from .coco_official import CocoImage, read_official
from .karpathy import read_karpathy
from .parsing import numbered, require_file, require_root, source_fingerprint
from .read_once import SplitsReadOnce

KARPATHY_FILE = "dataset_coco.json"
YEARS = (2014, 2017)
#: Test folds per protocol: 1K = 5 folds of 1000 images averaged, 5K = all test images at once.
PROTOCOL_FOLDS = {"1k": 5, "5k": 1}


class MSCOCO(SplitsReadOnce, Dataset):
    """MS-COCO captions (Lin et al. 2014), about 5 captions per image.

    Args:
        split: 'karpathy' (dataset_coco.json), 'paper' (the official train+val files pooled,
            then val_size + test_size images drawn with seed) or 'by-file' (official train file
            -> train minus val_size seeded images for val; official val file -> test).
        protocol: '1k' (test in 5 folds, averaged) or '5k' (one fold).
        restval: Karpathy split: the restval images go to train.
        year: 2014 or 2017 for the official files (default: whichever is present, 2014 first).
        seed: seed of the drawn val/test images ('paper' and 'by-file' splits).
        val_size: validation images drawn ('paper': required; 'by-file': default 5000 or a tenth).
        test_size: test images drawn for the 'paper' split.
        captions_per_image: keep each image's first N captions (file order); 0 keeps all. COCO
            has 5-7 captions per image; the published protocol (VSE++, SCAN, VSE infinity) uses
            5, so the Karpathy 5K test split has 25,000 captions (all would give 25,010).
    """

    # docs/paper-recipe.md row 36: COCO also splits on '?'.
    text: ClassVar[TextSpec] = TextSpec(separators=" -.,()?", lowercase=False, max_words=32)
    hints: ClassVar[Mapping[str, Any]] = {"dropout": 0.5, "negatives": "hardest"}

    def __init__(
        self,
        root: Path | str | None,
        *,
        split: Literal["karpathy", "paper", "by-file"] = "karpathy",
        protocol: Literal["1k", "5k"] = "1k",
        restval: bool = True,
        year: Literal[2014, 2017] | None = None,
        seed: Annotated[int, Ge(0)] = 1,
        val_size: Annotated[int, Ge(1)] | None = None,
        test_size: Annotated[int, Ge(1)] = 5000,
        captions_per_image: Annotated[int, Ge(0)] = 5,
    ) -> None:
        self.root = require_root(root, "mscoco")
        self.options = {
            "split": split,
            "protocol": protocol,
            "restval": bool(restval),
            "seed": int(seed),
            "val_size": val_size,
            "test_size": int(test_size),
            "captions_per_image": int(captions_per_image),
        }
        if split == "karpathy":
            self.files = [require_file(self.root / KARPATHY_FILE, "Karpathy's COCO split file")]
        else:
            self.year = self._year(year)
            self.options["year"] = self.year
            self.files = [
                require_file(
                    self.root / "annotations" / f"captions_{part}{self.year}.json", f"COCO {part} captions"
                )
                for part in ("train", "val")
            ]

    def _year(self, year: int | None) -> int:
        if year is not None:
            return year
        for candidate in YEARS:
            if (self.root / "annotations" / f"captions_train{candidate}.json").is_file():
                return candidate
        raise ConfigError(
            f"{self.root / 'annotations'}: no captions_train2014.json or captions_train2017.json"
        )

    def read_splits(self) -> dict[str, Split]:
        rule = self.options["split"]
        members = self._karpathy() if rule == "karpathy" else self._official(rule)
        folds = PROTOCOL_FOLDS[self.options["protocol"]]
        if len(members["test"]) < folds:
            raise ConfigError(
                f"mscoco: protocol={self.options['protocol']} cuts the test split into {folds} folds, but it "
                f"has {len(members['test'])} images; use protocol=5k (one fold)"
            )
        return {
            name: Split(name, numbered(self._first_captions(samples)), Protocol.IMAGE_CAPTION,
                        folds if name == "test" else 1)
            for name, samples in members.items()
        }

    def _first_captions(self, samples: list[Sample]) -> list[Sample]:
        """Each image with its first ``captions_per_image`` captions (all when 0)."""
        keep = self.options["captions_per_image"]
        if not keep:
            return samples
        return [dataclasses.replace(s, captions=s.captions[:keep]) for s in samples]

    def _karpathy(self) -> dict[str, list[Sample]]:
        members: dict[str, list[Sample]] = {"train": [], "val": [], "test": []}
        for image in read_karpathy(self.files[0]):
            split = image.split
            if split == "restval":
                if not self.options["restval"]:
                    continue
                split = "train"
            members[split].append(
                Sample(self.root / image.relative_path, image.captions, 0, image.relative_path)
            )
        return members

    def _official(self, rule: str) -> dict[str, list[Sample]]:
        train_file, val_file = self.files
        train = read_official(train_file, f"train{self.year}")
        val = read_official(val_file, f"val{self.year}")
        _check_disjoint(train, val, val_file)
        rng = np.random.default_rng(self.options["seed"])
        if rule == "paper":
            # The official prepare_imdb.m pools both files and calls MATLAB's rng(1) before a
            # random pick; MATLAB's generator and pick order cannot be reproduced here, so this
            # is a seeded equivalent (same sizes, same pooling), not the paper's exact images.
            pool = train + val
            n_val = 5000 if self.options["val_size"] is None else int(self.options["val_size"])
            n_test = self.options["test_size"]
            _check_size(val_file, len(pool), n_val + n_test, "pooled images")
            order = rng.permutation(len(pool))
            picked_val, picked_test = set(order[:n_val].tolist()), set(order[n_val : n_val + n_test].tolist())
            groups = {
                "train": [im for k, im in enumerate(pool) if k not in picked_val and k not in picked_test],
                "val": [im for k, im in enumerate(pool) if k in picked_val],
                "test": [im for k, im in enumerate(pool) if k in picked_test],
            }
        else:
            n_val = (
                max(1, len(train) // 10)
                if self.options["val_size"] is None
                else int(self.options["val_size"])
            )
            _check_size(train_file, len(train), n_val + 1, "training images")
            picked_val = set(rng.permutation(len(train))[:n_val].tolist())
            groups = {
                "train": [im for k, im in enumerate(train) if k not in picked_val],
                "val": [im for k, im in enumerate(train) if k in picked_val],
                "test": val,
            }
        return {name: [_sample(self.root, im) for im in images] for name, images in groups.items()}

    def fingerprint(self) -> str:
        return source_fingerprint("mscoco", self.options, self.files)


def _sample(root: Path, image: CocoImage) -> Sample:
    return Sample(root / image.relative_path, image.captions, 0, image.relative_path)


def _check_disjoint(train: list[CocoImage], val: list[CocoImage], val_file: Path) -> None:
    overlap = {im.image_id for im in train} & {im.image_id for im in val}
    if overlap:
        raise ConfigError(f"{val_file}: image id {min(overlap)} is also in the train file")


def _check_size(path: Path, have: int, need: int, what: str) -> None:
    if have < need:
        raise ConfigError(
            f"{path}: the split needs at least {need} {what}, the files have {have} "
            "(use split='by-file' or smaller val_size/test_size)"
        )
