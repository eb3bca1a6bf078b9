"""Karpathy's ``dataset_{flickr30k,coco}.json``: captions and the widely used split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from itr_bench.errors import ConfigError

from .parsing import clean_captions, field, load_json

SPLITS = ("train", "val", "test", "restval")


@dataclass(frozen=True)
class KarpathyImage:
    #: Path relative to the image root: ``filepath/filename`` (COCO) or ``filename`` (Flickr).
    relative_path: str
    captions: tuple[str, ...]
    split: str


def read_karpathy(path: Path) -> list[KarpathyImage]:
    """Every image of the file, in file order, with its raw captions and split."""
    data = load_json(path)
    images = field(data, "images", path, "the top level", list)
    out: list[KarpathyImage] = []
    seen: dict[str, int] = {}
    for number, record in enumerate(images):
        where = f"images[{number}]"
        filename = field(record, "filename", path, where, str)
        folder = record.get("filepath", "") if isinstance(record, dict) else ""
        split = field(record, "split", path, where, str)
        if split not in SPLITS:
            raise ConfigError(f"{path}: {where} has split {split!r}, expected one of {', '.join(SPLITS)}")
        sentences = field(record, "sentences", path, where, list)
        raws = [field(s, "raw", path, f"{where}.sentences[{k}]") for k, s in enumerate(sentences)]
        relative = f"{folder}/{filename}" if folder else filename
        if relative in seen:
            raise ConfigError(f"{path}: {where} repeats image {relative} (first at images[{seen[relative]}])")
        seen[relative] = number
        out.append(KarpathyImage(relative, clean_captions(raws, path, f"{where} ({relative})"), split))
    if not out:
        raise ConfigError(f"{path}: no images")
    return out
