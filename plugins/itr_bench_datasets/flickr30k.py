"""Flickr30k: the official token file or Karpathy's JSON; the paper's split or Karpathy's."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from itr_bench.api import Dataset, Protocol, Sample, Split, TextSpec
from itr_bench.errors import ConfigError

from .karpathy import read_karpathy
from .parsing import (
    find_file,
    numbered,
    parse_token_file,
    read_name_list,
    require_dir,
    require_root,
    source_fingerprint,
)
from .read_once import SplitsReadOnce

TOKEN_FILES = ("results_20130124.token", "results_20130124.token.gz", "*.token", "*.token.gz")
KARPATHY_FILE = "dataset_flickr30k.json"
#: The paper takes its val/test images from Flickr8k's lists (split_Flickr30k.m).
FLICKR8K_LISTS = {"val": "Flickr_8k.devImages.txt", "test": "Flickr_8k.testImages.txt"}
#: Karpathy's split as plain id lists (one Flickr photo id per line), when the JSON is absent.
ID_LISTS = {"train": "train.txt", "val": "val.txt", "test": "test.txt"}
SPLIT_NAMES = ("train", "val", "test")


class Flickr30k(SplitsReadOnce, Dataset):
    """Flickr30k (Young et al. 2014), 31,783 images with 5 captions each.

    Args:
        split: 'paper' (test = Flickr8k test images, val = Flickr8k dev, the rest train: the
            instance-loss paper's split) or 'karpathy' (from dataset_flickr30k.json, else from
            train.txt/val.txt/test.txt id lists).
        captions: 'token' (results_20130124.token[.gz]), 'karpathy' (the JSON's raw sentences)
            or 'auto' (the token file when present).
        flickr8k_lists: folder with the Flickr8k lists for the paper split (default: the root).
        image_dir: the image folder under the root.
        missing: 'error' or 'skip' for images a split names that have no captions (the public
            caption file lacks 769 images).
    """

    text: ClassVar[TextSpec] = TextSpec(separators=" -.,()", lowercase=False, max_words=32)
    hints: ClassVar[Mapping[str, Any]] = {"dropout": 0.75, "negatives": "hardest"}

    def __init__(
        self,
        root: Path | str | None,
        *,
        split: Literal["paper", "karpathy"] = "paper",
        captions: Literal["auto", "token", "karpathy"] = "auto",
        flickr8k_lists: Path | str | None = None,
        image_dir: str = "flickr30k-images",
        missing: Literal["error", "skip"] = "error",
    ) -> None:
        self.root = require_root(root, "flickr30k")
        self.split_rule, self.missing = split, missing
        self.image_dir = self.root / image_dir
        karpathy = self.root / KARPATHY_FILE
        if captions == "auto":
            captions = "karpathy" if karpathy.is_file() and not _any_token_file(self.root) else "token"
        self.caption_source = captions
        self.caption_file = (
            karpathy if captions == "karpathy" else find_file(self.root, TOKEN_FILES, "Flickr30k token file")
        )
        if split == "paper":
            lists_dir = require_dir(Path(flickr8k_lists) if flickr8k_lists else self.root, "Flickr8k lists")
            self.split_files = [
                find_file(lists_dir, (name,), f"Flickr8k {s} list") for s, name in FLICKR8K_LISTS.items()
            ]
        elif karpathy.is_file():
            self.split_files = [karpathy]
        else:
            self.split_files = [
                find_file(self.root, (name,), f"{KARPATHY_FILE} or {s} id list")
                for s, name in ID_LISTS.items()
            ]

    def read_splits(self) -> dict[str, Split]:
        captions = self._captions()
        assignment = self._assignment(captions)
        members: dict[str, list[Sample]] = {name: [] for name in SPLIT_NAMES}
        for name, caps in captions.items():
            members[assignment.get(name, "train")].append(Sample(self.image_dir / name, caps, 0, name))
        return {s: Split(s, numbered(members[s]), Protocol.IMAGE_CAPTION) for s in SPLIT_NAMES}

    def _captions(self) -> dict[str, tuple[str, ...]]:
        if self.caption_source == "token":
            return {name: tuple(caps) for name, caps in parse_token_file(self.caption_file).items()}
        return {image.relative_path: image.captions for image in read_karpathy(self.caption_file)}

    def _assignment(self, captions: Mapping[str, Any]) -> dict[str, str]:
        """Image name -> split for every image that is not in train."""
        if self.split_rule == "karpathy" and self.split_files[0].suffix == ".json":
            found = {
                i.relative_path: ("train" if i.split == "restval" else i.split)
                for i in read_karpathy(self.split_files[0])
            }
            unknown = [n for n in found if n not in captions]
            if unknown and self.missing == "error":
                raise ConfigError(
                    f"{self.split_files[0]}: image {unknown[0]} is listed but has no captions "
                    f"in {self.caption_file.name}"
                )
            return found
        split_of_list = FLICKR8K_LISTS if self.split_rule == "paper" else ID_LISTS
        assignment: dict[str, str] = {}
        for (split, _), path in zip(split_of_list.items(), self.split_files):
            for number, entry in read_name_list(path):
                name = _photo_file(entry)
                if name not in captions:
                    if self.missing == "skip":
                        continue
                    raise ConfigError(
                        f"{path}:{number}: image {name} is listed but has no captions "
                        f"in {self.caption_file.name}"
                    )
                if name in assignment and assignment[name] != split:
                    raise ConfigError(
                        f"{path}:{number}: image {name} is also in the {assignment[name]} split"
                    )
                assignment[name] = split
        return assignment

    def fingerprint(self) -> str:
        options = {"split": self.split_rule, "captions": self.caption_source, "missing": self.missing}
        files = [self.caption_file, *self.split_files]
        if self.image_dir.is_dir():
            files.append(self.image_dir)
        return source_fingerprint("flickr30k", options, files)


def _photo_file(entry: str) -> str:
    """A Flickr8k name (``1000268201_693b08cb0e.jpg``) or a bare id -> Flickr30k's ``<id>.jpg``."""
    stem = entry.rsplit(".", 1)[0] if entry.endswith(".jpg") else entry
    return stem.split("_", 1)[0] + ".jpg"


def _any_token_file(root: Path) -> bool:
    return any(next(iter(root.glob(p)), None) for p in TOKEN_FILES)
