"""The streaming feed: images decoded from the prepared cache by ``DataLoader`` workers, batch by batch.

For splits too large to hold on the device (:mod:`itr_bench.feed.placement`). The training
process draws every random choice of a global batch (which images, which caption, crop offsets,
flips) from the run's seeded generator and sends each batch to the workers as a
:class:`Request` (image indices + affine crops): workers never draw anything, so a batch is the
same tensor with 0, 2 or 16 workers. Workers are persistent, prefetch several requests ahead
and return pinned memory when the device is CUDA.

What a worker does depends on the device:

* CPU: decode (libjpeg-turbo), make the square (:func:`~itr_bench.feed.device.squares`), crop,
  flip and normalise (:func:`~itr_bench.feed.device.crop_batch`): the whole view, in parallel,
  written straight into a shared buffer the training process mapped once and hands out as the
  batch (:mod:`itr_bench.feed.slots`): no batch pays for a fresh shared-memory segment or a copy;
* CUDA: only read the JPEG files, packed into one tensor per batch (:class:`Encoded`); the
  training process decodes the batch in one nvJPEG call on the card and crops there (the whole
  CPU view runs at ~690 images/s per core at 224 px, and a GPU trains the paper's model at
  ~2,900 pairs/s: see :mod:`itr_bench.feed.placement`), and the host-to-device copy is the
  compressed bytes.

The square, crop and normalisation are the functions the device-resident bank uses, so both
paths give identical batches for the same draws (``tests/feed/test_streaming.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Sampler
from torch.utils.data import Dataset as TorchDataset

from ..data.prepare import PreparedSplit
from .device import SQUARE_FITS, crop_batch, decode_all, jpeg_tensors, normaliser, squares, view_batch
from .slots import BatchSlots, InSlot
from .transforms import IMAGENET_MEAN, IMAGENET_STD

#: Requests each worker holds ahead of the training step.
PREFETCH = 4
#: How far a worker takes a request (see :class:`ImageLoader`).
STAGES = ("bytes", "squares", "view")


@dataclass(frozen=True)
class Request:
    """One batch to load: image indices, and the affine crops of the training view (None: test view).

    ``slot``: the shared buffer (:class:`~itr_bench.feed.slots.BatchSlots`) to write the finished
    batch into, set by :class:`StreamingImages` when it has them.
    """

    index: Tensor
    theta: Tensor | None = None
    slot: int | None = None

    def __reduce__(self):
        """Sent to a worker as NumPy arrays, pickled by value: a tensor would travel as a new
        shared-memory segment and a file descriptor each, for a few hundred bytes."""
        theta = None if self.theta is None else self.theta.numpy()
        return _request, (self.index.numpy(), theta, self.slot)


def _request(index, theta, slot: int | None) -> Request:
    return Request(torch.from_numpy(index), None if theta is None else torch.from_numpy(theta), slot)


@dataclass(frozen=True)
class Encoded:
    """A batch's JPEG files end to end in one ``uint8`` tensor.

    One tensor crosses from a worker as one shared-memory segment (and is pinned as one copy);
    a list of 128 per-image tensors cost the training process ~30 ms per batch to receive
    (2-core AMD EPYC), more than a GPU step at ~2,900 pairs/s leaves for it.
    """

    data: Tensor
    sizes: tuple[int, ...]

    @classmethod
    def pack(cls, files: Sequence[bytes]) -> "Encoded":
        return cls(torch.frombuffer(bytearray(b"".join(files)), dtype=torch.uint8) if files else
                   torch.empty(0, dtype=torch.uint8), tuple(len(f) for f in files))

    def files(self) -> list[Tensor]:
        """One 1-D tensor per file, as :func:`~itr_bench.feed.device.decode_all` takes them."""
        return list(self.data.split(self.sizes))

    def pin_memory(self) -> "Encoded":
        """For the loader's pinning thread (``pin_memory=True`` on CUDA)."""
        return Encoded(self.data.pin_memory(), self.sizes)


class ImageLoader(TorchDataset):
    """The worker side: a :class:`Request` -> its images, as far as ``stage`` says.

    ``stage``: ``"bytes"`` (the JPEGs, decoded later on the device), ``"squares"`` (decoded
    ``uint8``, one shape per batch) or ``"view"`` (the finished ``float32`` batch).
    """

    def __init__(self, split: PreparedSplit, *, side: int, fit: str, stage: str,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                 slots: BatchSlots | None = None) -> None:
        self.images = split.table.select_columns(["image"])  # memory-mapped: cheap to pickle to workers
        self.side, self.fit, self.stage = side, fit, stage
        self.mean, self.std = mean, std
        self.slots = slots

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, request: Request) -> tuple[Request, Tensor | Encoded | InSlot]:
        data = self.images[request.index.tolist()]["image"]
        if self.stage == "bytes":
            return request, Encoded.pack(data)
        images = shape(decode_all(jpeg_tensors(data)), self.side, self.fit)
        if self.stage != "view":
            return request, images
        finished = (len(images), 3, self.side, self.side) if request.theta is not None else tuple(images.shape)
        target = None
        if self.slots is not None and request.slot is not None:
            target = self.slots.target(request.slot, finished)
        batch = finish(images, request.theta, self.side, *normaliser("cpu", self.mean, self.std), out=target)
        return request, (batch if target is None else InSlot(request.slot, finished))


def shape(decoded: Sequence[Tensor], side: int, fit: str) -> Tensor:
    """Decoded images -> one ``uint8`` batch: squares, or (``full``) the images as they are, resized
    so the shorter side is ``side`` (a ``full`` request holds images of one shape)."""
    if fit in SQUARE_FITS:
        return squares(decoded, side, fit)
    from torchvision.transforms.v2 import functional as TF

    return torch.stack([TF.resize(image, side, antialias=True) for image in decoded])


def finish(images: Tensor, theta: Tensor | None, side: int, mean: Tensor, std: Tensor,
           out: Tensor | None = None) -> Tensor:
    """A ``uint8`` batch -> the model's input: cropped through ``theta`` (training) or whole (test),
    written into ``out`` when given."""
    if theta is None:
        return view_batch(images, None, mean, std, out)
    return crop_batch(images, theta, side, mean, std, out)


class _Requests(Sampler[Request]):
    """The loader's sampler: whatever requests the feed hands it for the next pass."""

    def __init__(self) -> None:
        self.pending: Iterable[Request] = ()

    def __iter__(self) -> Iterator[Request]:
        return iter(self.pending)


def _as_is(item):
    return item


class StreamingImages:
    """Batches of ``split``'s images in a view, decoded by ``workers`` persistent processes.

    ``stage`` is how far workers go (:class:`ImageLoader`); by default ``bytes`` on CUDA (the
    training process decodes each batch in one nvJPEG call) and ``view`` on the CPU.
    ``batch_size``: the most images a request holds; with workers finishing the view for the CPU
    it sizes the shared buffers they write into (:mod:`itr_bench.feed.slots`). Without it, or
    when shared memory is short, or for a batch larger than a buffer, batches travel the
    ``DataLoader``'s usual way: the same tensors, a little slower.
    """

    def __init__(self, split: PreparedSplit, *, side: int, fit: str, device: torch.device, workers: int,
                 stage: str | None = None, batch_size: int | None = None,
                 mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        self.side, self.fit, self.device, self.workers = side, fit, device, workers
        stage = stage or ("bytes" if device.type == "cuda" else "view")
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
        self.slots = None
        if stage == "view" and device.type == "cpu" and workers > 0 and batch_size:
            self.slots = BatchSlots.for_stream(workers * PREFETCH, batch_size * 3 * side * side)
        self.source = ImageLoader(split, side=side, fit=fit, stage=stage, mean=mean, std=std, slots=self.slots)
        self.mean, self.std = normaliser(device, mean, std)
        self.requests = _Requests()
        self.loader = DataLoader(self.source, sampler=self.requests, batch_size=None, collate_fn=_as_is,
                                 num_workers=workers, persistent_workers=workers > 0,
                                 prefetch_factor=PREFETCH if workers > 0 else None,
                                 pin_memory=device.type == "cuda")

    def stream(self, requests: Iterable[Request]) -> Iterator[Tensor]:
        """The batch of each request, in order; workers run ahead by up to ``PREFETCH`` requests each.

        ``requests`` is consumed lazily, ahead of the batches returned: the random draws that
        shape it must not depend on what the caller does with earlier batches.
        """
        if self.slots is not None:
            self.slots.restart()
            requests = (replace(request, slot=self.slots.claim()) for request in requests)
        self.requests.pending = requests
        for request, loaded in self.loader:
            yield self._on_device(request, loaded)

    def load(self, index: Tensor, theta: Tensor | None = None) -> Tensor:
        """One batch now, split among the workers (for draws that depend on the model, e.g. negatives)."""
        parts = max(1, min(self.workers, len(index)))
        pieces = [Request(i, None if theta is None else t) for i, t in
                  zip(index.tensor_split(parts), theta.tensor_split(parts) if theta is not None else [None] * parts)]
        return torch.cat(list(self.stream(pieces)))

    def _on_device(self, request: Request, loaded: Tensor | Encoded | InSlot) -> Tensor:
        if self.slots is not None:
            if isinstance(loaded, InSlot):
                return self.slots.take(loaded)
            if request.slot is not None:
                self.slots.release(request.slot)
        if isinstance(loaded, Encoded):
            loaded = shape(decode_all(loaded.files(), self.device), self.side, self.fit)
        loaded = loaded.to(self.device, non_blocking=True)
        if loaded.dtype != torch.uint8:  # finished in the worker
            return loaded
        return finish(loaded, request.theta, self.side, self.mean, self.std)
