"""Flickr8k from its authors' distribution: token file, three split lists, image folder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from itr_bench.api import Dataset, Protocol, Sample, Split, TextSpec
from itr_bench.errors import ConfigError

from .parsing import (
    numbered,
    parse_token_file,
    read_name_list,
    require_dir,
    require_file,
    require_root,
    source_fingerprint,
)
from .read_once import SplitsReadOnce

TOKEN_FILE = "Flickr8k.token.txt"
IMAGE_DIR = "Flicker8k_Dataset"  # the distribution's own spelling
SPLIT_LISTS = {
    "train": "Flickr_8k.trainImages.txt",
    "val": "Flickr_8k.devImages.txt",
    "test": "Flickr_8k.testImages.txt",
}
#: Images that have captions but are in no split list (91 in the distribution).
UNLISTED = "unlisted"


class Flickr8k(SplitsReadOnce, Dataset):
    """Flickr8k (Hodosh et al. 2013): official 6000/1000/1000 split, 5 captions per image.

    The token file captions 8091 images but the split lists name only 8000. The other 91
    are kept in an extra ``unlisted`` split (so counts add up to the file's 40,455 captions)
    that nothing trains or evaluates on; ``unlisted=False`` drops them.

    Args:
        unlisted: keep the 91 captioned images no split list names, in an extra 'unlisted' split.
    """

    # The paper's Flickr settings (docs/paper-recipe.md row 36): split on "- space . , ( )", case-sensitive, 32 words.
    text: ClassVar[TextSpec] = TextSpec(separators=" -.,()", lowercase=False, max_words=32)
    hints: ClassVar[Mapping[str, Any]] = {"dropout": 0.75, "negatives": "hardest"}

    def __init__(self, root: Path | str | None, *, unlisted: bool = True) -> None:
        self.root = require_root(root, "flickr8k")
        self.unlisted = unlisted
        self.token_file = require_file(self.root / TOKEN_FILE, "Flickr8k caption file")
        self.lists = {
            name: require_file(self.root / file, f"Flickr8k {name} list")
            for name, file in SPLIT_LISTS.items()
        }
        self.image_dir = require_dir(self.root / IMAGE_DIR, "Flickr8k image")

    def read_splits(self) -> dict[str, Split]:
        captions = parse_token_file(self.token_file)
        listed: dict[str, str] = {}
        splits: dict[str, Split] = {}
        for split, path in self.lists.items():
            samples = []
            for number, name in read_name_list(path):
                if name in listed:
                    raise ConfigError(f"{path}:{number}: image {name} is also in the {listed[name]} split")
                if name not in captions:
                    raise ConfigError(
                        f"{path}:{number}: image {name} is listed but has no captions "
                        f"in {self.token_file.name}"
                    )
                listed[name] = split
                samples.append(Sample(self.image_dir / name, tuple(captions[name]), 0, name))
            splits[split] = Split(split, numbered(samples), Protocol.IMAGE_CAPTION)
        extra = [Sample(self.image_dir / n, tuple(c), 0, n) for n, c in captions.items() if n not in listed]
        if self.unlisted and extra:
            splits[UNLISTED] = Split(UNLISTED, numbered(extra), Protocol.IMAGE_CAPTION)
        return splits

    def fingerprint(self) -> str:
        files = [self.token_file, *self.lists.values(), self.image_dir]
        return source_fingerprint("flickr8k", {"unlisted": self.unlisted}, files)
