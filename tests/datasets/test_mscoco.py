import json

import pytest

from itr_bench.data.prepare import prepare
from itr_bench.errors import ItrBenchError

from .conftest import coco_official, karpathy_coco


def test_coco_mini_by_file(registry, shared_datasets, tmp_path):
    root = shared_datasets / "coco-mini"
    dataset = registry.create("dataset", "mscoco", root, split="by-file", val_size=8)
    splits = dataset.splits()
    assert len(splits["train"].samples) + len(splits["val"].samples) == 80
    assert len(splits["val"].samples) == 8
    assert len(splits["test"].samples) == 79 and splits["test"].num_captions == 395
    assert splits["test"].folds == 5 and splits["train"].folds == 1
    assert (
        splits["test"].samples[0].image == root / "val2017" / "000000397133.jpg"
    )  # first image of the val json
    assert splits["test"].samples[0].image.is_file()
    five_k = registry.create("dataset", "mscoco", root, split="by-file", protocol="5k")
    assert five_k.split("test").folds == 1
    assert dataset.text.separators.endswith("?") and dataset.hints["dropout"] == 0.5
    prepared = prepare(dataset, tmp_path, 48, progress=False)  # the real images, all 159
    assert min(prepared.split("test").table[0:1]["image"][0][:2]) >= 0
    assert {name: len(split) for name, split in prepared.splits.items()} == {
        "train": 72,
        "val": 8,
        "test": 79,
    }


def test_coco_mini_paper_split_is_seeded(registry, shared_datasets):
    root = shared_datasets / "coco-mini"
    a = registry.create("dataset", "mscoco", root, split="paper", val_size=20, test_size=30, seed=1)
    b = registry.create("dataset", "mscoco", root, split="paper", val_size=20, test_size=30, seed=1)
    c = registry.create("dataset", "mscoco", root, split="paper", val_size=20, test_size=30, seed=2)
    ids = lambda d, s: [x.image_id for x in d.split(s).samples]  # noqa: E731
    assert [len(ids(a, s)) for s in ("train", "val", "test")] == [109, 20, 30]
    assert ids(a, "test") == ids(b, "test") and ids(a, "test") != ids(c, "test")
    assert {p.split("/")[0] for p in ids(a, "test")} == {"train2017", "val2017"}  # pooled
    with pytest.raises(ItrBenchError, match="needs at least 10000 pooled images, the files have 159"):
        registry.create("dataset", "mscoco", root, split="paper").splits()


def test_karpathy_json_restval(registry, tmp_path):
    splits = ["train"] * 4 + ["restval"] * 3 + ["val"] * 2 + ["test"] * 5
    (tmp_path / "dataset_coco.json").write_text(json.dumps(karpathy_coco(splits)))
    with_restval = registry.create("dataset", "mscoco", tmp_path)
    assert [len(with_restval.split(s).samples) for s in ("train", "val", "test")] == [7, 2, 5]
    without = registry.create("dataset", "mscoco", tmp_path, restval=False)
    assert len(without.split("train").samples) == 4
    assert with_restval.fingerprint() != without.fingerprint()
    sample = with_restval.split("test").samples[0]
    assert (
        sample.image_id == "val2014/COCO_val2014_000000000009.jpg"
        and sample.image == tmp_path / sample.image_id
    )
    assert sample.captions[0] == "A cat 9 sentence 0."


def test_official_2014_files(registry, tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "captions_train2014.json").write_text(
        json.dumps(coco_official(range(1, 21), "train2014"))
    )
    (tmp_path / "annotations" / "captions_val2014.json").write_text(
        json.dumps(coco_official(range(21, 31), "val2014", 1000))
    )
    dataset = registry.create("dataset", "mscoco", tmp_path, split="by-file", val_size=2)
    assert [len(dataset.split(s).samples) for s in ("train", "val", "test")] == [18, 2, 10]
    test = dataset.split("test").samples[0]
    assert test.image_id == "val2014/000000000021.jpg"
    assert test.captions[0] == "A cat number 21 sits on mat 0?"


def test_karpathy_5k_test_keeps_five_captions_per_image(registry, tmp_path):
    """The published 5K protocol: 5,000 test images x 5 captions = 25,000, though some COCO images
    have 6 or 7 (the file order decides which five)."""
    data = karpathy_coco(["train"] * 3 + ["val"] * 2 + ["test"] * 5000)
    for k in (5, 700, 4999):  # three test images with 6, 7 and 6 captions: 25,004 in all without the rule
        extra = 1 + (k == 700)
        data["images"][k]["sentences"] += [{"raw": f"An extra caption {k} {j}.", "imgid": k} for j in range(extra)]
    (tmp_path / "dataset_coco.json").write_text(json.dumps(data))
    five = registry.create("dataset", "mscoco", tmp_path, protocol="5k").split("test")
    assert len(five.samples) == 5000 and five.num_captions == 25_000
    assert all(len(s.captions) == 5 for s in five.samples)
    assert five.samples[0].captions[4] == "A cat 5 sentence 4."  # the first five, in file order
    everything = registry.create("dataset", "mscoco", tmp_path, protocol="5k", captions_per_image=0)
    assert everything.split("test").num_captions == 25_004
    assert everything.fingerprint() != registry.create("dataset", "mscoco", tmp_path).fingerprint()
