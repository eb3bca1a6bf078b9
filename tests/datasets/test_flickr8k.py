from pathlib import Path

import pytest

from itr_bench.api import Protocol
from itr_bench.data.stats import dataset_stats


def test_real_flickr8k_counts(registry, shared_datasets):
    dataset = registry.create("dataset", "flickr8k", shared_datasets / "flickr8k")
    splits = dataset.splits()
    assert [len(splits[s].samples) for s in ("train", "val", "test")] == [6000, 1000, 1000]
    assert sum(split.num_captions for split in splits.values()) == 40455
    assert len(splits["unlisted"].samples) == 91  # captioned, in no split list
    train = splits["train"]
    assert [s.instance_id for s in train.samples] == list(range(6000))
    assert all(len(s.captions) == 5 for s in train.samples)
    first = train.samples[0]
    assert first.image_id == "2513260012_03d33305cf.jpg"  # first line of Flickr_8k.trainImages.txt
    assert first.image == shared_datasets / "flickr8k" / "Flicker8k_Dataset" / first.image_id
    assert first.image.is_file()
    assert not {s.image_id for s in train.samples} & {s.image_id for s in splits["test"].samples}


def test_fixture_layout_and_options(registry, flickr8k_root: Path):
    dataset = registry.create("dataset", "flickr8k", flickr8k_root)
    stats = {row["split"]: row for row in dataset_stats(dataset)}
    assert stats["train"] == {
        "split": "train",
        "images": 3,
        "captions": 15,
        "instances": 3,
        "protocol": "image-caption",
        "folds": 1,
    }
    assert stats["unlisted"]["images"] == 1
    assert dataset.split("test").samples[0].captions[0] == "A dog number 4 runs ( fast ) , caption 0 ."
    assert dataset.split("val").protocol is Protocol.IMAGE_CAPTION
    dropped = registry.create("dataset", "flickr8k", flickr8k_root, unlisted=False)
    assert set(dropped.splits()) == {"train", "val", "test"}
    assert dataset.text.max_words == 32 and "?" not in dataset.text.separators
    assert dataset.hints["dropout"] == 0.75


def test_fingerprint_follows_sources_and_options(registry, flickr8k_root: Path):
    before = registry.create("dataset", "flickr8k", flickr8k_root).fingerprint()
    assert registry.create("dataset", "flickr8k", flickr8k_root).fingerprint() == before
    assert registry.create("dataset", "flickr8k", flickr8k_root, unlisted=False).fingerprint() != before
    token = flickr8k_root / "Flickr8k.token.txt"
    token.write_text(token.read_text() + "1000_abc0.jpg#5\tOne more caption\n")
    assert registry.create("dataset", "flickr8k", flickr8k_root).fingerprint() != before


@pytest.mark.parametrize("name", ["flickr8k", "flickr30k", "mscoco", "cuhk-pedes"])
def test_file_datasets_need_a_root(registry, name):
    from itr_bench.errors import ItrBenchError

    with pytest.raises(ItrBenchError, match="root"):
        registry.create("dataset", name, None)
