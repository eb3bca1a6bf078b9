"""The streaming feed: the same batches as the device-resident path, with any number of workers.

Every random choice (caption, crop offsets, flips) is drawn per global batch in the training
process, and both paths apply them with the same functions, so a batch must be bit-identical
whichever path loads it and however many workers decode it.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from itr_bench_losses import RandomNegatives

from itr_bench.data import placement
from itr_bench.data.device import DeviceImages, random_crops
from itr_bench.data.placement import FeedPlan
from itr_bench.data.prepare import prepare
from itr_bench.data.streaming import Request, StreamingImages
from itr_bench.engine import feeding
from itr_bench.engine.feeding import CaptionTokens, TrainFeed
from itr_bench.engine.negatives import EvalEmbedder, NegativeMining

SIZE = 32
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    from itr_bench.plugins import get_plugin_manager, load_registry

    registry = load_registry(get_plugin_manager(load_entrypoints=False))
    dataset = registry.create("dataset", "synthetic", None, train=40, val=2, test=2, image_size=48)
    return prepare(dataset, tmp_path_factory.mktemp("cache"), SIZE, progress=False).split("train")


def _tokens(split):
    return CaptionTokens.build(split.table["captions"], lambda caps: torch.arange(len(caps) * 4).view(-1, 4))


def _feed(split, path: str, workers: int = 0, **options) -> TrainFeed:
    plan = FeedPlan(path, 0, 0, "test", workers)
    return TrainFeed(split, _tokens(split), batch_size=8, image_size=SIZE, device=CPU, seed=3, plan=plan,
                     augment_ids=lambda ids, generator: ids.roll(int(torch.randint(4, (1,), generator=generator))),
                     **options)


def _same_batches(first, second, count: int | None = None) -> None:
    pairs = list(itertools.islice(zip(first, second), count))
    assert pairs
    for a, b in pairs:
        assert torch.equal(a.images, b.images)
        assert torch.equal(a.token_ids, b.token_ids) and torch.equal(a.instance_ids, b.instance_ids)


def test_zero_and_two_workers_give_identical_batches(split):
    serial, parallel = _feed(split, "stream", 0), _feed(split, "stream", 2)
    assert parallel.stream.loader.num_workers == 2 and parallel.stream.loader.persistent_workers
    _same_batches(serial.epoch(0), parallel.epoch(0), count=4)
    _same_batches(serial.epoch(1), parallel.epoch(1))  # persistent workers serve the next epoch too


def test_streaming_and_device_paths_give_identical_batches(split):
    device, stream = _feed(split, "device"), _feed(split, "stream", 2)
    assert device.images is not None and stream.stream is not None
    assert device.image_augmentation == stream.image_augmentation
    _same_batches(device.epoch(0), stream.epoch(0))


def test_squash_view_is_identical_on_both_paths(split):
    device, stream = (_feed(split, path, 1, transform="paper-train-squash") for path in ("device", "stream"))
    _same_batches(device.epoch(2), stream.epoch(2), count=2)


def test_paired_batches_are_identical_on_both_paths_and_worker_counts(split):
    mining = NegativeMining("random", RandomNegatives(), EvalEmbedder(torch.nn.Identity()))
    feeds = [_feed(split, "device"), _feed(split, "stream", 0), _feed(split, "stream", 2)]
    epochs = [list(feed.epoch(0, mining)) for feed in feeds]
    _same_batches(epochs[0], epochs[1])
    _same_batches(epochs[0], epochs[2])


@pytest.mark.parametrize("stage", ["bytes", "squares", "view"])
def test_every_worker_stage_finishes_the_same_batch(split, stage):
    """``bytes`` (decoded by the training process, as on CUDA), ``squares`` (cropped there) and
    ``view`` (finished in the worker, as on the CPU) give the device bank's crop."""
    bank = DeviceImages.from_split(split, size=SIZE)
    index, theta = torch.tensor([5, 0, 17, 3]), random_crops(4, torch.Generator().manual_seed(1))
    stream = StreamingImages(split, side=SIZE, fit="crop", device=CPU, workers=0, stage=stage)
    (train,) = stream.stream([Request(index, theta)])
    assert torch.equal(train, bank.crop(index, theta, SIZE))
    assert torch.equal(stream.load(index), bank.view(index))


@pytest.mark.parametrize("transform", ["test", "test-squash"])
def test_test_images_are_identical_on_both_paths(split, monkeypatch, transform):
    on_device = list(feeding.test_images(split, SIZE, 16, CPU, transform, workers=2))
    monkeypatch.setattr(placement, "free_memory", lambda device: (0, "nothing free (test)"))
    streamed = list(feeding.test_images(split, SIZE, 16, CPU, transform, workers=2))
    assert len(on_device) == len(streamed) == 3
    for (index_a, a), (index_b, b) in zip(on_device, streamed):
        assert torch.equal(index_a, index_b) and torch.equal(a, b)
