"""Image transforms by name: the paper's training augmentation and a deterministic test view.

They take a decoded ``uint8`` tensor ``(3, H, W)`` and return a normalised float tensor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

import torch
from torchvision.transforms import InterpolationMode, v2

from ..errors import ConfigError, did_you_mean

#: ImageNet statistics (timm's defaults). The paper subtracts an RGB mean only and divides by
#: nothing (MatConvNet's ResNet-50); ImageNet-pretrained torch backbones expect these.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: The paper's crop (vl_imreadjpeg: crop size 0.8-1 of the area, anisotropy 3/4-4/3).
CROP_SCALE = (0.8, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)

Transform = Callable[[torch.Tensor], torch.Tensor]


def _finish(mean: Sequence[float], std: Sequence[float]) -> list[v2.Transform]:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]


def paper_train(size: int, mean: Sequence[float], std: Sequence[float]) -> Transform:
    """Random resized crop (0.8-1 of the area, aspect 3/4-4/3) to size x size, bicubic, random flip."""
    return v2.Compose(
        [
            v2.RandomResizedCrop(
                size,
                scale=CROP_SCALE,
                ratio=CROP_RATIO,
                interpolation=InterpolationMode.BICUBIC,
                antialias=True,
            ),
            v2.RandomHorizontalFlip(),
            *_finish(mean, std),
        ]
    )


def test_center(size: int, mean: Sequence[float], std: Sequence[float]) -> Transform:
    """Shorter side to ``size`` then the central size x size square: batchable, no randomness."""
    return v2.Compose(
        [
            v2.Resize(size, interpolation=InterpolationMode.BICUBIC, antialias=True),
            v2.CenterCrop(size),
            *_finish(mean, std),
        ]
    )


def test_full(size: int, mean: Sequence[float], std: Sequence[float]) -> Transform:
    """Shorter side to ``size``, whole image kept: the paper's test view (batch 1 or same-shape sets)."""
    return v2.Compose(
        [v2.Resize(size, interpolation=InterpolationMode.BICUBIC, antialias=True), *_finish(mean, std)]
    )


TRANSFORMS: Mapping[str, Callable[[int, Sequence[float], Sequence[float]], Transform]] = MappingProxyType(
    {"paper-train": paper_train, "test": test_center, "test-full": test_full}
)


def build_transform(
    name: str, size: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> Transform:
    """The transform registered under ``name`` for ``size`` x ``size`` outputs."""
    if name not in TRANSFORMS:
        raise ConfigError(f"unknown image transform {name!r}: {did_you_mean(name, TRANSFORMS)}")
    return TRANSFORMS[name](size, mean, std)
