import gzip
import json
from pathlib import Path

import pytest

from itr_bench.data.prepare import prepare
from itr_bench.data.subset import HeadSubset
from itr_bench.errors import ItrBenchError

from .conftest import write_images


@pytest.fixture
def real_root(tmp_path, shared_datasets) -> Path:
    """The real caption file and lists, linked (not copied) next to generated stand-in images."""
    captions = shared_datasets / "flickr30k-captions"
    for name in ("flickr30k_captions.token.gz", "train.txt", "val.txt", "test.txt"):
        (tmp_path / name).symlink_to(captions / name)
    for name in ("Flickr_8k.devImages.txt", "Flickr_8k.testImages.txt"):
        (tmp_path / name).symlink_to(shared_datasets / "flickr8k" / name)
    return tmp_path


def test_real_captions_paper_split(registry, real_root):
    dataset = registry.create("dataset", "flickr30k", real_root, split="paper", missing="skip")
    splits = dataset.splits()
    sizes = {name: len(split.samples) for name, split in splits.items()}
    # The public caption file covers 31,014 of 31,783 images: 929 Flickr8k test and 934 dev images.
    assert sizes == {"train": 31014 - 929 - 934, "val": 934, "test": 929}
    assert sum(s.num_captions for s in splits.values()) == 155070
    assert (
        splits["test"].samples[0].image_id.endswith(".jpg") and "_" not in splits["test"].samples[0].image_id
    )
    with pytest.raises(
        ItrBenchError,
        match=r"Flickr_8k\.(dev|test)Images\.txt:\d+: image \d+\.jpg is listed but has no captions",
    ):
        registry.create("dataset", "flickr30k", real_root, split="paper").splits()


def test_real_captions_karpathy_lists_and_standin_images(registry, real_root, tmp_path):
    dataset = registry.create("dataset", "flickr30k", real_root, split="karpathy", missing="skip")
    test = dataset.split("test")
    assert 0 < len(test.samples) <= 1000 and len(dataset.split("train").samples) > 28000
    subset = HeadSubset(dataset, 4)
    write_images(
        real_root / "flickr30k-images",
        [s.image_id for split in subset.splits().values() for s in split.samples],
    )
    prepared = prepare(subset, tmp_path / "cache", 32, progress=False)
    row = prepared.split("test").table[0]
    assert row["image_id"] == test.samples[0].image_id and list(row["captions"]) == list(
        test.samples[0].captions
    )


def test_token_gz_and_karpathy_json(registry, tmp_path):
    names = [f"{100 + k}.jpg" for k in range(6)]
    lines = [
        f"{n}#{j}\tA man {k} in a red hat , sentence {j}." for k, n in enumerate(names) for j in range(5)
    ]
    with gzip.open(tmp_path / "results_20130124.token.gz", "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    splits = ["train", "train", "train", "val", "test", "test"]
    karpathy = {
        "images": [
            {
                "filename": n,
                "imgid": k,
                "split": s,
                "sentids": [k],
                "sentences": [{"raw": f"raw {k}", "tokens": ["raw"]}],
            }
            for k, (n, s) in enumerate(zip(names, splits))
        ],
        "dataset": "flickr30k",
    }
    (tmp_path / "dataset_flickr30k.json").write_text(json.dumps(karpathy))
    from_token = registry.create("dataset", "flickr30k", tmp_path, split="karpathy", captions="token")
    assert [len(from_token.split(s).samples) for s in ("train", "val", "test")] == [3, 1, 2]
    assert from_token.split("test").samples[1].captions[4] == "A man 5 in a red hat , sentence 4."
    from_json = registry.create("dataset", "flickr30k", tmp_path, split="karpathy", captions="karpathy")
    assert from_json.split("val").samples[0].captions == ("raw 3",)
    assert from_token.fingerprint() != from_json.fingerprint()
    (tmp_path / "Flickr_8k.testImages.txt").write_text("104_aaaa.jpg\n")
    (tmp_path / "Flickr_8k.devImages.txt").write_text("105_bbbb.jpg\n")
    paper = registry.create("dataset", "flickr30k", tmp_path, split="paper")
    assert [s.image_id for s in paper.split("test").samples] == ["104.jpg"]
    assert [s.image_id for s in paper.split("val").samples] == ["105.jpg"]
    assert len(paper.split("train").samples) == 4
