"""Device-resident images: the whole split as one ``uint8`` tensor, augmented in batches.

For sets that fit in accelerator memory (at 224 px Flickr8k's training split is 0.9 GB,
Flickr30k's 4.4 GB, COCO's 17 GB; :mod:`itr_bench.feed.placement` decides) nothing is decoded
during training: a batch is an index into the tensor, and the paper's augmentation (random
resized crop of 0.8-1 of the area, aspect 3/4-4/3, flip) is one ``affine_grid`` +
``grid_sample`` call on the device, so the input pipeline cannot starve a GPU. The streaming
feed (:mod:`itr_bench.feed.streaming`) calls the same :func:`squares` and :func:`crop_batch`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.io import ImageReadMode, decode_jpeg
from torchvision.transforms.v2 import functional as TF

from ..data.prepare import PreparedSplit
from .transforms import CROP_RATIO, CROP_SCALE, IMAGENET_MEAN, IMAGENET_STD

#: Images decoded per call while a bank is built (bounds the peak beside the bank itself).
DECODE_CHUNK = 1024
#: The fits a square tensor can hold (``full`` keeps each image's own shape).
SQUARE_FITS = ("crop", "squash")


class DeviceImages:
    """``images``: ``(N, 3, S, S)`` uint8 on its device; :meth:`augment` / :meth:`view` give float batches."""

    def __init__(
        self, images: Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected uint8 (N, 3, H, W) images, got {images.dtype} {tuple(images.shape)}")
        self.images = images
        self.mean, self.std = normaliser(images.device, mean, std)

    @classmethod
    def from_split(
        cls, split: PreparedSplit, device: torch.device | str = "cpu", size: int | None = None, fit: str = "crop"
    ) -> "DeviceImages":
        """Decode every cached JPEG once (on the GPU when ``device`` is one) into squares of side ``size``.

        ``fit`` (see :class:`~itr_bench.feed.transforms.ImageView`): ``crop`` keeps the central
        square, ``squash`` resizes the whole image to a square. ``full`` cannot be held as one
        tensor (shapes differ): the test feed streams it. ``size`` defaults to the first image's
        shorter side (``prepare`` stores every image with the same one). Images are decoded
        :data:`DECODE_CHUNK` at a time, so the peak is the bank plus one chunk, not twice the split.
        """
        if fit not in SQUARE_FITS:
            raise ValueError(f"device-resident images are squares: fit must be one of {SQUARE_FITS}, got {fit!r}")
        device = torch.device(device)
        column = split.table["image"]
        bank: Tensor | None = None
        for start in range(0, len(column), DECODE_CHUNK):
            decoded = decode_all(jpeg_tensors(column[start : start + DECODE_CHUNK]), device)
            if bank is None:
                side = size or min(decoded[0].shape[-2:])
                bank = torch.empty((len(column), 3, side, side), dtype=torch.uint8, device=device)
            bank[start : start + len(decoded)] = squares(decoded, side, fit).to(device)
        if bank is None:
            raise ValueError("a device-resident bank needs at least one image")
        return cls(bank)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def device(self) -> torch.device:
        return self.images.device

    def view(self, indices: Tensor, size: int | None = None) -> Tensor:
        """The test view: whole (square) images, resized to ``size`` if given, normalised."""
        return view_batch(self.images[indices.to(self.device)], size, self.mean, self.std)

    def augment(
        self, indices: Tensor, size: int | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """The paper's training augmentation for a batch, as one batched resampling."""
        return self.crop(indices, random_crops(len(indices), generator), size)

    def crop(self, indices: Tensor, theta: Tensor, size: int | None = None) -> Tensor:
        """Resample ``images[indices]`` through the affine crops ``theta`` ``(n, 2, 3)`` (see :func:`random_crops`).

        Drawing the crops apart from applying them lets data-parallel processes draw the crops
        of the whole global batch and apply only their own share: the same global batch then
        gets the same augmentation whatever the number of processes.
        """
        return crop_batch(self.images[indices.to(self.device)], theta, size, self.mean, self.std)


def jpeg_tensors(data: Sequence[bytes]) -> list[Tensor]:
    """Encoded images as the 1-D ``uint8`` tensors :func:`decode_all` takes."""
    return [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in data]


def decode_all(data: list[Tensor], device: torch.device | str = "cpu") -> list[Tensor]:
    """JPEG tensors -> ``uint8`` ``(3, H, W)`` images in one batched call (nvJPEG on a CUDA ``device``)."""
    device = torch.device(device)
    return decode_jpeg(data, mode=ImageReadMode.RGB, device=device if device.type == "cuda" else "cpu")


def squares(decoded: Sequence[Tensor], side: int, fit: str = "crop") -> Tensor:
    """Decoded ``uint8`` images ``(3, H, W)`` -> one ``(n, 3, side, side)`` tensor by ``fit``.

    The one place a stored image becomes a square: the device-resident bank and the streaming
    feed both call it, so the two paths hand identical squares to :func:`crop_batch`.
    """
    if fit not in SQUARE_FITS:
        raise ValueError(f"squares need a square fit, one of {SQUARE_FITS}, got {fit!r}")
    if fit == "squash":
        return torch.stack([TF.resize(image, [side, side], antialias=True) for image in decoded])
    return torch.stack([TF.center_crop(TF.resize(image, side, antialias=True), side) for image in decoded])


def normaliser(device: torch.device | str, mean: Sequence[float] = IMAGENET_MEAN,
               std: Sequence[float] = IMAGENET_STD) -> tuple[Tensor, Tensor]:
    """``(mean, std)`` as ``(1, 3, 1, 1)`` tensors in 0..255 units on ``device``."""
    return (torch.tensor(mean, device=device).view(1, 3, 1, 1) * 255,
            torch.tensor(std, device=device).view(1, 3, 1, 1) * 255)


def view_batch(images: Tensor, size: int | None, mean: Tensor, std: Tensor, out: Tensor | None = None) -> Tensor:
    """The test view of a ``uint8`` batch: whole images, resized to ``size`` if given, normalised.

    ``out``: where to write the result (a streaming worker's shared buffer); same numbers either way.
    """
    resize = size is not None and size != images.shape[-1]

    def finish(part: Tensor, _: slice, into: Tensor) -> None:
        batch = part.float()
        if resize:
            batch = F.interpolate(batch, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        normalise(batch, mean, std, into)

    shape = (len(images), 3, *((size, size) if resize else images.shape[-2:]))
    return _in_chunks(images, shape, finish, out)


def crop_batch(images: Tensor, theta: Tensor, size: int | None, mean: Tensor, std: Tensor,
               out: Tensor | None = None) -> Tensor:
    """The training view of a ``uint8`` batch: resample through the affine crops ``theta``, normalise.

    Each output pixel depends on its own image and crop only, so a batch cropped whole, in
    pieces (the streaming feed's workers) or in chunks gives the same numbers.
    ``out``: as in :func:`view_batch`.
    """
    side = size or images.shape[-1]
    theta = theta.to(images.device, torch.float32)

    def finish(part: Tensor, rows: slice, into: Tensor) -> None:
        grid = F.affine_grid(theta[rows], [len(part), 3, side, side], align_corners=False)
        sampled = F.grid_sample(part.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
        normalise(sampled, mean, std, into)

    return _in_chunks(images, (len(images), 3, side, side), finish, out)


#: On the CPU, a batch is finished this many float bytes per thread at a time (~2 images at
#: 224 px on one thread): the chunk's temporaries (``float`` copy, grid, resampled image) stay in
#: cache and in reused memory. One 224 px batch of 32 on one thread of a 2-core AMD EPYC: 27.6 ms
#: in chunks against 68.0 ms whole (``pytest tests/benchmarks/test_bench_feeding.py
#: --benchmark-only -k crop``), and no page faults for fresh 19 MB temporaries.
CPU_CHUNK_BYTES = 2**20


def _in_chunks(images: Tensor, shape: tuple[int, ...], finish, out: Tensor | None) -> Tensor:
    """``finish(images[rows], rows, out[rows])`` over chunks of rows (one chunk on an accelerator)."""
    if out is None:
        out = torch.empty(shape, device=images.device)
    step = len(images) or 1
    if images.device.type == "cpu":
        per_image = 4 * shape[1] * shape[2] * shape[3]
        step = max(1, CPU_CHUNK_BYTES * torch.get_num_threads() // per_image)
    for start in range(0, len(images), step):
        rows = slice(start, start + step)
        finish(images[rows], rows, out[rows])
    return out


def normalise(batch: Tensor, mean: Tensor, std: Tensor, out: Tensor | None = None) -> Tensor:
    """``(batch - mean) / std``, into ``out`` when given (the same two roundings per element)."""
    mean, std = mean.to(batch.device), std.to(batch.device)
    if out is None:
        return (batch - mean) / std
    return torch.sub(batch, mean, out=out).div_(std)


def random_crops(n: int, generator: torch.Generator | None = None, flip: bool = True) -> Tensor:
    """``(n, 2, 3)`` affine crops of the paper's augmentation: 0.8-1 of the area, aspect 3/4-4/3, flip.

    Random numbers are drawn on the CPU (a few per image) so one generator serves any device.
    ``flip=False`` (a dataset that is not flip-safe) never flips but draws the same numbers,
    so the crops themselves are those a flipping run would get.
    """
    area = torch.empty(n).uniform_(*CROP_SCALE, generator=generator)
    log_ratio = torch.empty(n).uniform_(math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1]), generator=generator)
    # Crop width/height as fractions of the side; torchvision rejects crops wider than the
    # image and retries, here they are clamped (the area then shrinks by at most ~7%).
    width = torch.sqrt(area * log_ratio.exp()).clamp(max=1.0)
    height = torch.sqrt(area / log_ratio.exp()).clamp(max=1.0)
    centre_x = (torch.rand(n, generator=generator) * 2 - 1) * (1 - width)
    centre_y = (torch.rand(n, generator=generator) * 2 - 1) * (1 - height)
    flip = torch.where(torch.rand(n, generator=generator) < (0.5 if flip else 0.0), -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = width * flip, centre_x
    theta[:, 1, 1], theta[:, 1, 2] = height, centre_y
    return theta
