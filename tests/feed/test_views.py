"""Each named image view means the same on the device-resident and the streaming feeding path.

A tall image of three coloured bands (red / green / blue, top to bottom, like a pedestrian
photo) tells the views apart: the central square ("crop") shows only the green band, the
squashed whole image ("squash") shows all three, and "test-full" keeps the 1:3 shape.
"""

from __future__ import annotations

import io
import typing

import pytest
import torch
from PIL import Image

from itr_bench.api import Dataset, Protocol, Sample, Split, TextSpec
from itr_bench.config import RunConfig
from itr_bench.data.prepare import prepare
from itr_bench.feed import feeding, placement
from itr_bench.feed.feeding import CaptionTokens, TrainFeed
from itr_bench.feed.transforms import TEST_VIEWS, TRAIN_VIEWS

SIZE = 24
BANDS = ((255, 0, 0), (0, 255, 0), (0, 0, 255))


def _png(width: int, height: int) -> bytes:
    image = Image.new("RGB", (width, height))
    for k, colour in enumerate(BANDS):
        image.paste(colour, (0, k * height // 3, width, (k + 1) * height // 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class Tall(Dataset):
    """Tall banded images (1:3) and one square one, so "test-full" sees two shapes."""

    text = TextSpec()

    def __init__(self, root=None) -> None:
        pass

    def splits(self):
        shapes = [(SIZE, 3 * SIZE)] * 5 + [(SIZE, SIZE)] + [(SIZE, 3 * SIZE)] * 2
        samples = [Sample(_png(w, h), ("a person",), i, f"p{i}") for i, (w, h) in enumerate(shapes)]
        return {name: Split(name, samples, Protocol.IMAGE_CAPTION) for name in ("train", "val", "test")}

    def fingerprint(self) -> str:
        return "tall-bands"


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return prepare(Tall(), tmp_path_factory.mktemp("cache"), SIZE, progress=False).split("test")


@pytest.fixture(params=["resident", "streaming"])
def path(request, monkeypatch):
    if request.param == "streaming":
        monkeypatch.setattr(placement, "free_memory", lambda device: (0, "nothing free (test)"))
    return request.param


def _bands(images: torch.Tensor) -> set[int]:
    """Which colour bands are visible (channel k clearly above the others somewhere)."""
    seen = set()
    for k in range(3):
        others = [c for c in range(3) if c != k]
        if bool((images[:, k] > images[:, others].max(1).values + 1.0).float().mean(dim=(1, 2)).min() > 0.02):
            seen.add(k)
    return seen


def _test_batches(split, name):
    index, images = zip(*feeding.test_images(split, SIZE, 4, torch.device("cpu"), name))
    return torch.cat(index), images


def test_the_config_keys_name_exactly_the_views():
    hints = typing.get_type_hints(RunConfig)
    assert typing.get_args(hints["train_transform"]) == TRAIN_VIEWS
    assert typing.get_args(hints["test_transform"]) == TEST_VIEWS


def test_test_crop_shows_the_central_band_and_squash_the_whole_image(split, path):
    index, crop = _test_batches(split, "test")
    assert sorted(index.tolist()) == list(range(8))
    tall = torch.cat(crop)[[i for i in range(8) if i != 5]]
    assert _bands(tall) == {1}
    _, squash = _test_batches(split, "test-squash")
    squashed = torch.cat(squash)
    assert squashed.shape[-2:] == (SIZE, SIZE) and _bands(squashed[[0, 1, 2, 3, 4, 6, 7]]) == {0, 1, 2}


def test_test_full_keeps_the_aspect_and_every_image_once(split, path):
    index, batches = _test_batches(split, "test-full")
    assert sorted(index.tolist()) == list(range(8))
    shapes = sorted({tuple(b.shape[-2:]) for b in batches})
    assert shapes == [(SIZE, SIZE), (3 * SIZE, SIZE)]


@pytest.mark.parametrize(("name", "bands"), [("paper-train", {1}), ("paper-train-squash", {0, 1, 2})])
def test_train_views_crop_the_same_square_on_both_paths(split, path, name, bands):
    tokens = CaptionTokens.build(split.table["captions"], lambda caps: torch.ones(len(caps), 4, dtype=torch.long))
    feed = TrainFeed(split, tokens, batch_size=4, image_size=SIZE, device=torch.device("cpu"), seed=0,
                     transform=name)
    assert (feed.images is not None) == (path == "resident")
    batches = list(feed.epoch(0))
    images = torch.cat([batch.images for batch in batches])
    tall = images[torch.cat([batch.instance_ids for batch in batches]) != 5]
    assert images.shape[-2:] == (SIZE, SIZE) and _bands(tall) == bands
