"""Where a split's images live during a run: on the training device, or streamed from the cache.

Holding a split as one ``uint8`` tensor on the device (:class:`~itr_bench.feed.device.DeviceImages`)
means nothing is decoded while training: the paper's crop and flip are one batched resampling
on the device. At 224 px a split takes ``N x 3 x 224 x 224`` bytes: Flickr8k's 6k training
images 0.9 GB, Flickr30k's 29k 4.7 GB, COCO's 113k 17 GB, which all stay on an 80-141 GB card.
The limit is a share (:data:`DEVICE_MEMORY_FRACTION`, the run's ``feed_memory_fraction``) of
the memory free when the feed is built (``torch.cuda.mem_get_info`` on CUDA, the kernel's
``MemAvailable`` on the CPU), so the model, its activations and the evaluation keep the rest.

A split over the limit is streamed (:mod:`itr_bench.feed.streaming`): worker processes decode
the cached JPEGs. Decode plus the paper's augmentation runs at about 690 images/s per core of a
2-core AMD EPYC at 224 px (``benchmarks/feed_throughput.py``, ``leaderboards/perf``), while one
H100 trains the paper's dual-path model at about 2,900 pairs/s in bf16 and a bare compiled
ResNet-50 at about 4,900 images/s (the figures #17 reports; no GPU has been measured here):
streaming a GPU from CPU decoding would keep ~4-7 such cores busy beside the training process,
so on CUDA the stream decodes with nvJPEG on the card instead. Both paths give bit-identical
batches for the same random draws.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..config import DEVICE_MEMORY_FRACTION  # a run setting's default: the config declares it

if TYPE_CHECKING:  # torch is imported where memory is measured
    import torch

#: Streaming workers never exceed this many by default (decoding more in parallel rarely pays).
MAX_DEFAULT_WORKERS = 16
MEMINFO = Path("/proc/meminfo")


@dataclass(frozen=True)
class FeedPlan:
    """Which path feeds a split and why; the run record's ``feed`` entry."""

    path: Literal["device", "stream"]
    #: the split's images as one ``uint8`` tensor
    bytes: int
    #: the most the device path may take: ``fraction x free``
    limit: int
    reason: str
    #: streaming worker processes (0: decoding happens in the training process)
    workers: int

    def as_record(self) -> dict[str, Any]:
        return asdict(self)


def resident_bytes(images: int, image_size: int) -> int:
    """Bytes of ``images`` square ``uint8`` RGB images of side ``image_size``."""
    return images * 3 * image_size * image_size


def free_memory(device: torch.device) -> tuple[int, str]:
    """Free bytes on ``device`` and where the figure comes from."""
    if device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(free), "torch.cuda.mem_get_info"
    try:
        import psutil  # optional: a precise figure on any OS
    except ImportError:
        return _meminfo_available(), f"{MEMINFO} MemAvailable"
    return int(psutil.virtual_memory().available), "psutil available RAM"


def _meminfo_available() -> int:
    """The kernel's estimate of memory available without swapping (Linux); 0 if unknown."""
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def default_workers(cores: int | None = None) -> int:
    """Streaming workers when the run does not say: one per core but the training process's own."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(MAX_DEFAULT_WORKERS, cores - 1))


def plan_feed(
    images: int,
    image_size: int,
    device: torch.device,
    *,
    fraction: float = DEVICE_MEMORY_FRACTION,
    workers: int | None = None,
    square: bool = True,
    free: tuple[int, str] | None = None,
) -> FeedPlan:
    """Device-resident when the split's ``uint8`` images fit in ``fraction`` of ``device``'s free memory.

    ``square=False`` (a view that keeps each image's shape) always streams. ``free`` (bytes,
    source) replaces the measurement, for tests and planning ahead of a run.
    """
    needed = resident_bytes(images, image_size)
    workers = default_workers() if workers is None else workers
    if not square:
        return FeedPlan("stream", needed, 0, "the view keeps each image's own shape: not one tensor", workers)
    available, source = free if free is not None else free_memory(device)
    limit = int(fraction * available)
    sizes = f"{_gb(needed)} of uint8 images vs {fraction:g} x {_gb(available)} free on {device.type} ({source})"
    if needed <= limit:
        return FeedPlan("device", needed, limit, f"fits: {sizes}", 0)
    return FeedPlan("stream", needed, limit,
                    f"too large: {sizes}; streamed from the cache by {workers} worker(s)", workers)


def _gb(count: int) -> str:
    return f"{count / 1e9:.2f} GB"
