"""How fast can the input pipeline feed a model? Images/s per CPU core and on the device path.

Measures, from a prepared cache of a real dataset:
  * decode (cached JPEG) + the paper's augmentation, one process, one thread: images/s per core;
  * the device-resident path (uint8 tensor + batched crop/flip/normalise), per batch.

    python benchmarks/feeding.py --root ../shared/datasets/flickr8k --images 1000

A dataset that needs no files works too: ``--dataset synthetic``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from itr_bench.data.cached import CachedSplit
from itr_bench.data.device import DeviceImages
from itr_bench.data.prepare import prepare
from itr_bench.data.subset import HeadSubset
from itr_bench.data.transforms import build_transform
from itr_bench.plugins import get_plugin_manager, load_registry


def cpu_images_per_second(split, size: int, limit: int) -> float:
    dataset = CachedSplit(split, build_transform("paper-train", size))
    count = min(limit, len(dataset))
    dataset[0]  # warm-up
    start = time.perf_counter()
    for index in range(count):
        dataset[(index, 0)]
    return count / (time.perf_counter() - start)


def device_images_per_second(split, size: int, device: str, batch: int, rounds: int) -> tuple[float, float]:
    start = time.perf_counter()
    bank = DeviceImages.from_split(split, device=device, size=size)
    load_seconds = time.perf_counter() - start
    generator = torch.Generator().manual_seed(0)
    bank.augment(torch.arange(batch) % len(bank), generator=generator)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(rounds):
        indices = torch.randint(len(bank), (batch,), generator=generator)
        bank.augment(indices, generator=generator)
    synchronize(device)
    return rounds * batch / (time.perf_counter() - start), load_seconds


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="flickr8k")
    parser.add_argument("--root", type=Path, default=None)
    parser.add_argument("--images", type=int, default=1000, help="first N images of each split")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 224])
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "itr-bench-feeding")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    registry = load_registry(get_plugin_manager(load_entrypoints=False))
    dataset = HeadSubset(registry.create("dataset", args.dataset, args.root), args.images)
    threads = torch.get_num_threads()
    print(f"dataset={args.dataset} images/split<={args.images} device={args.device} cores={os.cpu_count()}")
    for size in args.sizes:
        split = prepare(dataset, args.cache_dir, size).split("train")
        torch.set_num_threads(1)
        per_core = cpu_images_per_second(split, size, len(split))
        torch.set_num_threads(threads)
        on_device, load = device_images_per_second(split, size, args.device, args.batch, args.rounds)
        print(
            f"{size:>4}px  decode+augment: {per_core:8.0f} img/s per CPU core   "
            f"device-resident ({args.device}, {threads} threads, batch {args.batch}): "
            f"{on_device:8.0f} img/s   "
            f"(building the {len(split)}-image tensor took {load:.1f}s)"
        )


if __name__ == "__main__":
    main()
