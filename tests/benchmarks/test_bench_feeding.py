"""Feeding speed (pytest-benchmark; skipped unless run with ``--benchmark-only``).

Real figures on Flickr8k come from ``benchmarks/feed_throughput.py``; these run on the embedded set.
"""

import pytest
import torch

from itr_bench.data.cached import CachedSplit
from itr_bench.data.device import DeviceImages
from itr_bench.data.prepare import prepare
from itr_bench.data.transforms import build_transform


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
