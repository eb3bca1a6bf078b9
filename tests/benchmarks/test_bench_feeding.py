"""Feeding speed (pytest-benchmark; skipped unless run with ``--benchmark-only``).

Real figures on Flickr8k come from ``benchmarks/feed_throughput.py``; these run on the embedded set.
"""

import pytest
import torch

from itr_bench.data.prepare import prepare
from itr_bench.feed.cached import CachedSplit
from itr_bench.feed.device import DeviceImages
from itr_bench.feed.transforms import build_transform


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from itr_bench.plugins import get_plugin_manager, load_registry

    registry = load_registry(get_plugin_manager(load_entrypoints=False))
    dataset = registry.create("dataset", "synthetic", None, train=64, val=1, test=1, image_size=224)
    return {
        size: prepare(dataset, tmp_path_factory.mktemp("cache"), size, progress=False).split("train")
        for size in (128, 224)
    }


@pytest.mark.parametrize("size", [128, 224])
def test_decode_and_augment(benchmark, prepared, size):
    dataset = CachedSplit(prepared[size], build_transform("paper-train", size))
    batch = benchmark(lambda: [dataset[(i, 0)]["image"] for i in range(len(dataset))])
    assert batch[0].shape == (3, size, size)


@pytest.mark.parametrize("size", [128, 224])
def test_device_resident_augment(benchmark, prepared, size):
    bank = DeviceImages.from_split(prepared[size])
    generator = torch.Generator().manual_seed(0)
    out = benchmark(
        lambda: bank.augment(torch.randint(len(bank), (64,), generator=generator), generator=generator)
    )
    assert out.shape == (64, 3, size, size)


@pytest.mark.parametrize("way", ["chunks", "whole"])
def test_cpu_crop_of_a_224px_batch_on_one_thread(benchmark, way):
    """``crop_batch`` (cache-sized chunks on the CPU) against the one batched call it replaced, on
    one thread as a streaming worker runs it: compare the two rows' means."""
    import torch.nn.functional as F

    from itr_bench.feed.device import crop_batch, normaliser, random_crops

    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (32, 3, 224, 224), dtype=torch.uint8, generator=generator)
    theta, (mean, std) = random_crops(32, generator), normaliser("cpu")

    def whole():
        grid = F.affine_grid(theta, [32, 3, 224, 224], align_corners=False)
        sampled = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
        return (sampled - mean) / std

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = benchmark(whole if way == "whole" else lambda: crop_batch(images, theta, 224, mean, std))
    finally:
        torch.set_num_threads(threads)
    assert out.shape == (32, 3, 224, 224)
