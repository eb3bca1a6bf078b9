"""Image views by name: the paper's training augmentation and the deterministic test views.

A run names one for training (``train_transform``) and one for testing (``test_transform``).
Both feeding paths apply a view with the same batched functions (:func:`~itr_bench.feed.device.squares`,
:func:`~itr_bench.feed.device.crop_batch`; ``docs/feeding.md``). :func:`build_transform` is
the per-image torchvision form of a view (bicubic), for code outside the feeds (a user's own
``DataLoader`` over :class:`~itr_bench.feed.cached.CachedSplit`); the feeds do not use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Literal

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


@dataclass(frozen=True)
class ImageView:
    """What a named transform shows the model, on both feeding paths alike.

    ``fit`` is how the stored image (shorter side = image size) becomes the model's input:
    ``crop`` its central square, ``squash`` the whole image resized to a square (aspect not
    kept), ``full`` the whole image with its aspect kept (test only, batched by image shape). ``augment``: the paper's
    random crop (0.8-1 of the area, aspect 3/4-4/3) and flip of that square, for training.
    """

    fit: Literal["crop", "squash", "full"]
    augment: bool


#: The named views: the train/test transforms a run config can name.
VIEWS: Mapping[str, ImageView] = MappingProxyType({
    "paper-train": ImageView("crop", True),
    "paper-train-squash": ImageView("squash", True),
    "test": ImageView("crop", False),
    "test-squash": ImageView("squash", False),
    "test-full": ImageView("full", False),
})
TRAIN_VIEWS = tuple(name for name, view in VIEWS.items() if view.augment)
TEST_VIEWS = tuple(name for name, view in VIEWS.items() if not view.augment)


def view(name: str) -> ImageView:
    """The view registered under ``name``; an unknown name is one line with a suggestion."""
    if name not in VIEWS:
        raise ConfigError(f"unknown image transform {name!r}: {did_you_mean(name, VIEWS)}")
    return VIEWS[name]


def _fit(fit: str, size: int) -> list[v2.Transform]:
    resize = partial(v2.Resize, interpolation=InterpolationMode.BICUBIC, antialias=True)
    return {"crop": [resize(size), v2.CenterCrop(size)], "squash": [resize((size, size))], "full": [resize(size)]}[fit]


def _finish(mean: Sequence[float], std: Sequence[float]) -> list[v2.Transform]:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]


def build_transform(
    name: str, size: int, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> Transform:
    """The per-image transform of view ``name`` (the streaming path; :class:`~itr_bench.feed.device.DeviceImages`
    applies the same view to a whole batch on the device)."""
    chosen = view(name)
    steps = _fit(chosen.fit, size)
    if chosen.augment:
        steps += [v2.RandomResizedCrop(size, scale=CROP_SCALE, ratio=CROP_RATIO,
                                       interpolation=InterpolationMode.BICUBIC, antialias=True),
                  v2.RandomHorizontalFlip()]
    return v2.Compose([*steps, *_finish(mean, std)])
