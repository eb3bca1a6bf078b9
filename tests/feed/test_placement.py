"""Which feeding path a split gets: on the device when its uint8 images fit a share of the free memory.

The free memory is injected, so a COCO-sized split (120k images at 224 px, 18 GB) is planned
without allocating anything.
"""

from __future__ import annotations

import pytest
import torch

from itr_bench.data.prepare import prepare
from itr_bench.feed import placement
from itr_bench.feed.feeding import CaptionTokens, TrainFeed
from itr_bench.feed.placement import (
    DEVICE_MEMORY_FRACTION,
    default_workers,
    free_memory,
    plan_feed,
    resident_bytes,
)

GB = 10**9
CUDA, CPU = torch.device("cuda"), torch.device("cpu")
COCO_SIZED = 120_000  # images at 224 px: 18.1 GB as one uint8 tensor


def test_paper_scale_splits_stay_on_an_80_to_141_gb_card():
    for images in (29_000, 113_287, COCO_SIZED):  # Flickr30k train, COCO Karpathy train, a bit more
        for card in (80, 141):
            plan = plan_feed(images, 224, CUDA, free=(int((card - 1.5) * GB), "injected"))
            assert plan.path == "device", plan.reason
            assert plan.bytes == images * 3 * 224 * 224 and plan.workers == 0


def test_a_coco_sized_split_streams_with_workers_when_memory_is_short():
    plan = plan_feed(COCO_SIZED, 224, CUDA, workers=6, free=(24 * GB, "injected"))
    assert plan.path == "stream" and plan.workers == 6
    assert plan.limit == int(DEVICE_MEMORY_FRACTION * 24 * GB) < plan.bytes == resident_bytes(COCO_SIZED, 224)
    assert "too large" in plan.reason and "18.06 GB" in plan.reason and "injected" in plan.reason
    record = plan.as_record()
    assert record["path"] == "stream" and record["bytes"] == plan.bytes and record["reason"] == plan.reason


def test_the_fraction_is_the_limit():
    free = (40 * GB, "injected")
    assert plan_feed(COCO_SIZED, 224, CUDA, free=free).path == "device"  # 18 GB <= 0.5 x 40 GB
    assert plan_feed(COCO_SIZED, 224, CUDA, fraction=0.4, free=free).path == "stream"  # 18 GB > 16 GB
    assert plan_feed(10, 8, CUDA, fraction=0.0, free=free).path == "stream"  # 0: always stream


def test_a_view_that_keeps_each_shape_always_streams():
    plan = plan_feed(10, 32, CPU, workers=0, square=False, free=(100 * GB, "injected"))
    assert plan.path == "stream" and "shape" in plan.reason


def test_free_memory_is_measured_on_the_cpu():
    free, source = free_memory(CPU)
    assert free > 0 and source


@pytest.mark.parametrize(("cores", "workers"), [(1, 0), (2, 1), (8, 7), (128, 16)])
def test_default_workers_leave_the_training_process_a_core(cores, workers):
    assert default_workers(cores) == workers


@pytest.mark.parametrize(("free", "path"), [(10 * GB, "device"), (1000, "stream")])
def test_train_feed_follows_the_measured_free_memory(registry, tmp_path, monkeypatch, free, path):
    dataset = registry.create("dataset", "synthetic", None, train=8, val=2, test=2, image_size=16)
    split = prepare(dataset, tmp_path, 16, progress=False).split("train")
    monkeypatch.setattr(placement, "free_memory", lambda device: (free, "injected"))
    tokens = CaptionTokens.build(split.table["captions"], lambda caps: torch.ones(len(caps), 2, dtype=torch.long))
    feed = TrainFeed(split, tokens, batch_size=4, image_size=16, device=CPU, seed=0, workers=0)
    assert feed.plan.path == path and (feed.images is not None) == (path == "device")
    assert (feed.stream is not None) == (path == "stream")
    assert len(list(feed.epoch(0))) == 2
