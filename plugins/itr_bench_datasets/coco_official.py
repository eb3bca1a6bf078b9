"""The official COCO caption files ``captions_{train,val}{2014,2017}.json``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from itr_bench.errors import ConfigError

from .parsing import clean_captions, field, load_json


@dataclass(frozen=True)
class CocoImage:
    image_id: int
    #: Path relative to the dataset root (``train2014/COCO_train2014_...jpg``).
    relative_path: str
    captions: tuple[str, ...]


def read_official(path: Path, image_folder: str) -> list[CocoImage]:
    """Images in file order with their captions (annotations in file order)."""
    data = load_json(path)
    images = field(data, "images", path, "the top level", list)
    annotations = field(data, "annotations", path, "the top level", list)
    names: dict[int, str] = {}
    for k, record in enumerate(images):
        image_id = field(record, "id", path, f"images[{k}]", int)
        file_name = field(record, "file_name", path, f"images[{k}]", str)
        if image_id in names:
            raise ConfigError(f"{path}: images[{k}] repeats image id {image_id}")
        names[image_id] = file_name
    captions: dict[int, list[str]] = {image_id: [] for image_id in names}
    for k, record in enumerate(annotations):
        image_id = field(record, "image_id", path, f"annotations[{k}]", int)
        caption = field(record, "caption", path, f"annotations[{k}]")
        if image_id not in captions:
            raise ConfigError(
                f"{path}: annotations[{k}] refers to image id {image_id}, which is not in images"
            )
        captions[image_id].extend(clean_captions([caption], path, f"annotations[{k}] (image {image_id})"))
    out = []
    for image_id, file_name in names.items():
        if not captions[image_id]:
            raise ConfigError(f"{path}: image {image_id} ({file_name}) has no captions")
        out.append(CocoImage(image_id, f"{image_folder}/{file_name}", tuple(captions[image_id])))
    return out
