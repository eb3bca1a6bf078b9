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

from itr_bench.data.prepare import prepare
from itr_bench.feed import feeding, placement
from itr_bench.feed.device import DeviceImages, random_crops
from itr_bench.feed.feeding import CaptionTokens, TrainFeed
from itr_bench.feed.negatives import EvalEmbedder, NegativeMining
from itr_bench.feed.placement import FeedPlan
from itr_bench.feed.streaming import Encoded, Request, StreamingImages

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


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("stage", ["bytes", "squares", "view"])
def test_every_worker_stage_finishes_the_same_batch(split, stage, workers):
    """``bytes`` (decoded by the training process, as on CUDA), ``squares`` (cropped there) and
    ``view`` (finished in the worker, as on the CPU) give the device bank's crop, in this process
    or sent from worker processes."""
    bank = DeviceImages.from_split(split, size=SIZE)
    index, theta = torch.tensor([5, 0, 17, 3]), random_crops(4, torch.Generator().manual_seed(1))
    stream = StreamingImages(split, side=SIZE, fit="crop", device=CPU, workers=workers, stage=stage, batch_size=4)
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


def _requests(count: int, size: int = 8, seed: int = 5) -> list[Request]:
    generator = torch.Generator().manual_seed(seed)
    return [Request(torch.randint(40, (size,), generator=generator), random_crops(size, generator))
            for _ in range(count)]


def _serial(split, requests) -> list[torch.Tensor]:
    return list(StreamingImages(split, side=SIZE, fit="crop", device=CPU, workers=0).stream(requests))


def test_workers_write_into_shared_buffers_and_a_held_batch_is_never_overwritten(split):
    """Batches come back in the ring's buffers; one the caller keeps, then only a slice of it,
    stays as it was while many more batches pass through a ring of 1 x 4 + 3 buffers."""
    requests = _requests(24)
    expected = _serial(split, requests)
    stream = StreamingImages(split, side=SIZE, fit="crop", device=CPU, workers=1, batch_size=8)
    assert stream.slots is not None and len(stream.slots) == 7
    buffers = {buffer.data_ptr() for buffer in stream.slots.buffers}
    kept, kept_slice = None, None
    for i, batch in enumerate(stream.stream(requests)):
        assert batch.data_ptr() in buffers  # no copy: the worker's buffer is the batch
        assert torch.equal(batch, expected[i])
        if i == 0:
            kept = batch
        if i == 12:
            assert torch.equal(kept, expected[0])
            kept_slice, kept = kept[2:5], None
    assert torch.equal(kept_slice, expected[0][2:5])


def test_a_stream_whose_buffers_are_all_held_falls_back_to_the_usual_transfer(split):
    requests = _requests(12)
    stream = StreamingImages(split, side=SIZE, fit="crop", device=CPU, workers=1, batch_size=8)
    held = list(stream.stream(requests))  # every batch kept: after 7, none is free
    buffers = {buffer.data_ptr() for buffer in stream.slots.buffers}
    assert sum(batch.data_ptr() in buffers for batch in held) == len(stream.slots)
    for batch, expected in zip(held, _serial(split, requests), strict=True):
        assert torch.equal(batch, expected)


def test_batches_larger_than_a_buffer_or_without_shared_memory_are_the_same(split, monkeypatch):
    requests = _requests(6, size=8)
    expected = _serial(split, requests)
    small = StreamingImages(split, side=SIZE, fit="crop", device=CPU, workers=2, batch_size=4)
    assert all(torch.equal(a, b) for a, b in zip(small.stream(requests), expected, strict=True))
    monkeypatch.setattr("itr_bench.feed.slots.shared_memory_free", lambda: 0)
    without = StreamingImages(split, side=SIZE, fit="crop", device=CPU, workers=2, batch_size=8)
    assert without.slots is None
    assert all(torch.equal(a, b) for a, b in zip(without.stream(requests), expected, strict=True))


def test_an_abandoned_pass_leaves_no_buffer_busy(split):
    requests = _requests(10)
    stream = StreamingImages(split, side=SIZE, fit="crop", device=CPU, workers=2, batch_size=8)
    for _ in range(3):
        next(stream.stream(requests))  # dropped at once: its requests are still in flight
    buffers = {buffer.data_ptr() for buffer in stream.slots.buffers}
    again = list(itertools.islice(stream.stream(requests), 3))
    assert all(batch.data_ptr() in buffers for batch in again)
    for batch, expected in zip(again, _serial(split, requests)):
        assert torch.equal(batch, expected)


@pytest.mark.parametrize("path, workers", [("device", 0), ("stream", 0), ("stream", 2)])
def test_the_first_batch_is_epoch_zeros_first_and_leaves_no_work_in_flight(split, path, workers):
    feed = _feed(split, path, workers)
    first = feed.first_batch()
    if feed.stream is not None and feed.stream.slots is not None:
        assert not feed.stream.slots._writing  # every request it made was answered
    _same_batches([first], feed.epoch(0), count=1)
    _same_batches(_feed(split, "device").epoch(1), feed.epoch(1))  # and the epochs after are unchanged


def test_a_batch_of_jpeg_files_travels_as_one_tensor(split):
    files = split.table["image"][:5]
    encoded = Encoded.pack(files)
    assert encoded.data.dim() == 1 and len(encoded.data) == sum(len(f) for f in files)
    assert [bytes(t.numpy()) for t in encoded.files()] == list(files)
    assert Encoded.pack([]).files() == []


def test_the_ring_stays_within_its_byte_budget(monkeypatch):
    from itr_bench.feed import slots

    per_buffer = 1000 * 4
    assert len(slots.BatchSlots.for_stream(8, 1000)) == 11  # room for all in flight + spare
    monkeypatch.setattr(slots, "MAX_RING_BYTES", 6 * per_buffer)
    assert len(slots.BatchSlots.for_stream(8, 1000)) == 6  # fewer: the rest travel the usual way
    monkeypatch.setattr(slots, "MAX_RING_BYTES", 3 * per_buffer)
    assert slots.BatchSlots.for_stream(8, 1000) is None
