import io
from collections import Counter

import numpy as np
from itr_bench_datasets.synthetic import RELATION_WORDS, Scene, Thing, caption, render
from PIL import Image

from itr_bench.api import Protocol


def small(registry, **options):
    return registry.create("dataset", "synthetic", None, train=60, val=20, test=20, **options)


def test_deterministic_and_configurable(registry):
    a, b = small(registry, seed=3), small(registry, seed=3)
    assert a.fingerprint() == b.fingerprint()
    sa, sb = a.split("train").samples, b.split("train").samples
    assert [s.captions for s in sa] == [s.captions for s in sb] and sa[0].image == sb[0].image
    other = small(registry, seed=4)
    assert (
        other.fingerprint() != a.fingerprint() and other.split("train").samples[0].captions != sa[0].captions
    )
    image = Image.open(io.BytesIO(sa[0].image))
    assert image.size == (64, 64) and image.format == "PNG"
    assert Image.open(io.BytesIO(small(registry, image_size=32).split("test").samples[0].image)).size == (
        32,
        32,
    )
    assert [len(a.split(s).samples) for s in ("train", "val", "test")] == [60, 20, 20]


def test_default_size_and_distinct_scenes(registry):
    dataset = registry.create("dataset", "synthetic", None)
    splits = dataset.splits()
    assert [len(splits[s].samples) for s in ("train", "val", "test")] == [1000, 200, 200]
    assert all(len(s.captions) == 5 for split in splits.values() for s in split.samples)
    assert all(split.protocol is Protocol.IMAGE_CAPTION for split in splits.values())
    pixels = {s.image for split in splits.values() for s in split.samples}
    assert len(pixels) == 1400
    words = Counter(w for s in splits["train"].samples for c in s.captions for w in c.split())
    for word in ("left", "right", "above", "below", "small", "large", "circle", "square", "red", "blue"):
        assert words[word] > 50, word


def test_swapped_scene_differs_in_image_and_captions():
    red, blue = Thing("red", "circle", "large"), Thing("blue", "square", "small")
    scene, swapped = Scene(red, blue, "horizontal"), Scene(blue, red, "horizontal")
    image = np.asarray(Image.open(io.BytesIO(render(scene, 64, np.random.default_rng(0)))), dtype=float)
    mirror = np.asarray(Image.open(io.BytesIO(render(swapped, 64, np.random.default_rng(0)))), dtype=float)
    red_side = lambda im: (im[..., 0] - im[..., 2]).reshape(64, 2, 32).sum(axis=(0, 2))  # noqa: E731
    assert red_side(image)[0] > red_side(image)[1] and red_side(mirror)[1] > red_side(mirror)[0]
    rng = np.random.default_rng(1)
    forward, inverse = RELATION_WORDS["horizontal"]
    for _ in range(20):
        text = caption(scene, rng)
        red_first = text.index("red") < text.index("blue")
        relation = next(r for r in sorted(forward + inverse, key=len, reverse=True) if f" {r} " in text)
        assert (relation in forward) == red_first, (
            text
        )  # "red ... left of ... blue" or "blue ... right of ... red"


def test_identity_variant(registry):
    dataset = registry.create("dataset", "synthetic-identity", None, train=20, val=5, test=5)
    train = dataset.split("train")
    assert train.protocol is Protocol.IDENTITY
    assert len(train.samples) == 80 and train.num_instances == 20
    renderings = [s for s in train.samples if s.instance_id == 0]
    assert len(renderings) == 4 and len({s.image for s in renderings}) == 4
    assert all(len(s.captions) == 2 for s in train.samples)
