"""A torch ``Dataset`` over a prepared split: decode the cached JPEG, then transform it."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset as TorchDataset
from torchvision.io import ImageReadMode, decode_jpeg

from ..data.prepare import PreparedSplit
from .transforms import Transform


def decode(data: bytes) -> torch.Tensor:
    """JPEG bytes -> ``uint8`` tensor ``(3, H, W)``."""
    return decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)


class CachedSplit(TorchDataset):
    """Items by image index (``int``: image only) or ``(image, caption)`` key (as the samplers yield).

    An item is a dict: ``image`` (transformed tensor), ``instance_id``, ``index`` and, for a
    pair key, ``caption`` (the string; the text encoder tokenises it).
    """

    def __init__(self, split: PreparedSplit, transform: Transform) -> None:
        self.split = split
        self.table = split.table
        self.transform = transform

    def __len__(self) -> int:
        return len(self.table)

    @property
    def captions_per_image(self) -> list[int]:
        return [len(c) for c in self.table["captions"]]

    @property
    def instance_ids(self) -> list[int]:
        return list(self.table["instance_id"])

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index, caption = key if isinstance(key, tuple) else (key, None)
        row = self.table[int(index)]
        item = {
            "image": self.transform(decode(row["image"])),
            "instance_id": row["instance_id"],
            "index": int(index),
        }
        if caption is not None:
            item["caption"] = row["captions"][caption]
        return item
