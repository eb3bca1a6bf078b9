"""What it costs the training process to receive a batch of JPEG files from streaming workers.

On CUDA the streaming workers only read the cached JPEG files and the training process decodes
them on the card (``itr_bench/feed/streaming.py``), so the training process's CPU time per
received batch bounds the feed. Measured in one run, the loader alone (no decoding), 2 workers:

  * ``packed``: the files of a batch end to end in one tensor (``Encoded``, what the feed sends);
  * ``per_image``: one tensor per file (what it sent before: one shared-memory segment and file
    descriptor per image).

    python benchmarks/worker_transfer.py --root ../shared/datasets/flickr8k

prints batches/s and the training process's CPU ms per batch for each, and their ratio.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import torch

from itr_bench.data.prepare import prepare
from itr_bench.data.subset import HeadSubset
from itr_bench.feed.device import jpeg_tensors
from itr_bench.feed.streaming import ImageLoader, Request, StreamingImages
from itr_bench.plugins import get_plugin_manager, load_registry


class PerImage(ImageLoader):
    """The baseline: a batch's files as one tensor each."""

    def __getitem__(self, request: Request):
        return request, jpeg_tensors(self.images[request.index.tolist()]["image"])


def rate(stream: StreamingImages, batches: int, batch: int, images: int) -> tuple[float, float]:
    """(batches/s, CPU ms of this process per batch) over ``batches`` random requests."""
    generator = torch.Generator().manual_seed(0)
    stream.requests.pending = [Request(torch.randint(images, (batch,), generator=generator)) for _ in range(batches)]
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    for _ in stream.loader:
        pass
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    used = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    return batches / wall, 1000 * used / batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="flickr8k")
    parser.add_argument("--root", type=Path, default=None)
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "itr-bench-feed-throughput")
    args = parser.parse_args()

    torch.set_num_threads(1)
    registry = load_registry(get_plugin_manager(load_entrypoints=False))
    dataset = HeadSubset(registry.create("dataset", args.dataset, args.root), args.images)
    split = prepare(dataset, args.cache_dir, args.image_size, progress=False).split("train")
    streams = {}
    for name in ("packed", "per_image"):
        stream = StreamingImages(split, side=args.image_size, fit="crop", device=torch.device("cpu"),
                                 workers=args.workers, stage="bytes")
        if name == "per_image":
            stream.source.__class__ = PerImage  # the loader forks its workers at first use, with this class
        rate(stream, 4, args.batch, len(split))  # start the workers
        streams[name] = stream
    results = {name: [rate(stream, args.batches, args.batch, len(split)) for _ in range(3)]
               for name, stream in streams.items()}
    print(f"{os.cpu_count()} CPUs, {args.workers} workers, batch {args.batch} at {args.image_size} px, "
          f"loader only (no decoding), best of 3:")
    best = {name: max(runs) for name, runs in results.items()}
    for name, (per_second, cpu_ms) in best.items():
        print(f"  {name:>9}: {per_second:7.1f} batches/s, {cpu_ms:5.1f} ms of training-process CPU per batch")
    print(f"  packed / per_image: {best['packed'][0] / best['per_image'][0]:.1f}x the batches/s")


if __name__ == "__main__":
    main()
