"""Shared-memory buffers, mapped once, that streaming workers write finished batches into.

A ``DataLoader`` worker normally returns a batch by moving it into a new shared-memory segment:
fresh pages the kernel must fault in and zero, then a copy, and the training process maps the
segment again. For a finished 224 px ``float32`` batch of 32 (19 MB) that was 12 ms of a
worker's ~70 ms per batch on a 2-core AMD EPYC, one of the reasons two workers on two cores ran
no faster than the training process alone (``docs/feeding.md``). Here the training
process maps a ring of buffers before the workers start; a worker writes the batch into the
buffer its request names and returns only the shape; the training process hands the buffer out
as the batch, without a copy.

A buffer is given to a new request only when no request is writing it and no tensor made from
it is still alive (PyTorch's count of references to its storage: the batch, any view or slice of
it, a NumPy array over it, an autograd graph that saved it). So a batch stays valid for as long
as anything holds it, like any other tensor. When every buffer is busy, or a batch is larger
than a buffer, that batch travels the ``DataLoader``'s usual way: the same tensor, a little slower.
The count is PyTorch's private ``torch._C._storage_Use_Count``; where a version lacks it, there is
no ring and every batch travels that way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import Tensor

#: Where shared memory lives on Linux; the ring is used only if it fits in half of what is free
#: there (containers often mount 64 MB), else batches travel the ``DataLoader``'s usual way.
SHARED_MEMORY = "/dev/shm"
#: Buffers beyond those the loader can have in flight: batches the caller still holds.
SPARE = 3
#: The most one ring takes (its pages are committed when it is mapped). 16 workers at batch 32
#: and 224 px need 67 buffers, 1.3 GB; with fewer buffers than requests in flight, the requests
#: that find none free travel the usual way.
MAX_RING_BYTES = 2 * 2**30


@dataclass(frozen=True)
class InSlot:
    """A worker's answer: the batch is in buffer ``slot``, with this shape."""

    slot: int
    shape: tuple[int, ...]


class BatchSlots:
    """``count`` shared ``float32`` buffers of ``capacity`` elements each, and which are in use."""

    def __init__(self, count: int, capacity: int) -> None:
        self.buffers = [torch.empty(capacity).share_memory_() for _ in range(count)]
        self._idle_references = _references(self.buffers[0])  # the ring's own
        self._writing: set[int] = set()
        self._next = 0

    @classmethod
    def for_stream(cls, in_flight: int, capacity: int) -> "BatchSlots | None":
        """Buffers for ``in_flight`` requests and :data:`SPARE` held batches, within
        :data:`MAX_RING_BYTES` and half the free shared memory; None when not even ``SPARE + 1`` fit."""
        budget = min(MAX_RING_BYTES, shared_memory_free() // 2)
        count = min(in_flight + SPARE, budget // (capacity * 4))
        if count <= SPARE or not hasattr(torch._C, "_storage_Use_Count"):
            return None
        return cls(count, capacity)

    def __len__(self) -> int:
        return len(self.buffers)

    def claim(self) -> int | None:
        """A buffer for the next request: none writing it, no tensor reading it; None if all are busy."""
        for step in range(len(self.buffers)):
            slot = (self._next + step) % len(self.buffers)
            if slot not in self._writing and _references(self.buffers[slot]) == self._idle_references:
                self._writing.add(slot)
                self._next = slot + 1
                return slot
        return None

    def release(self, slot: int) -> None:
        """``slot``'s request was answered without it (the batch did not fit)."""
        self._writing.discard(slot)

    def restart(self) -> None:
        """A new pass of the loader: requests of an abandoned pass were drained, none still writes."""
        self._writing.clear()

    def target(self, slot: int, shape: tuple[int, ...]) -> Tensor | None:
        """Buffer ``slot`` as a tensor of ``shape``; None when the batch does not fit."""
        numel = 1
        for size in shape:
            numel *= size
        buffer = self.buffers[slot]
        return buffer[:numel].view(shape) if numel <= len(buffer) else None

    def take(self, answer: InSlot) -> Tensor:
        """The batch a worker left in ``answer.slot``: the buffer itself, busy while the batch lives."""
        self._writing.discard(answer.slot)
        target = self.target(answer.slot, answer.shape)
        assert target is not None  # the worker wrote it there
        return target


def _references(buffer: Tensor) -> int:
    """How many tensors (and other owners) share ``buffer``'s memory."""
    return torch._C._storage_Use_Count(buffer.untyped_storage()._cdata)


def shared_memory_free() -> int:
    """Free bytes of shared memory (``/dev/shm``); 0 where there is no such mount."""
    try:
        stats = os.statvfs(SHARED_MEMORY)
    except OSError:
        return 0
    return stats.f_bavail * stats.f_frsize
