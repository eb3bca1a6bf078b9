import os

import pytest
import torch
from torch.utils.data import DataLoader

from itr_bench.api import Dataset, Protocol, Sample, Split
from itr_bench.data.prepare import load_prepared, prepare
from itr_bench.data.stats import dataset_stats
from itr_bench.feed.cached import CachedSplit, decode
from itr_bench.feed.samplers import EpochCaptionSampler
from itr_bench.feed.transforms import build_transform


@pytest.fixture
def synthetic(registry):
    return registry.create("dataset", "synthetic", None, train=12, val=4, test=6, image_size=48, seed=5)


def test_builds_once_then_reuses(synthetic, tmp_path):
    first = prepare(synthetic, tmp_path, 32, progress=False)
    assert {name: len(split) for name, split in first.splits.items()} == {"train": 12, "val": 4, "test": 6}
    arrow = first.path / "train.arrow"
    stamp = arrow.stat().st_mtime_ns
    again = prepare(synthetic, tmp_path, 32, progress=False)
    assert again.path == first.path and arrow.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.path.name]  # no temporary folders left
    row = first.split("train").table[3]
    sample = synthetic.split("train").samples[3]
    assert (
        list(row["captions"]) == list(sample.captions)
        and row["instance_id"] == 3
        and row["image_id"] == sample.image_id
    )
    assert decode(row["image"]).shape == (3, 32, 32)
    assert first.text == synthetic.text and first.hints == dict(synthetic.hints)
    assert load_prepared(first.path).split("test").protocol is Protocol.IMAGE_CAPTION


def test_changed_setting_or_source_rebuilds(registry, synthetic, tmp_path):
    a = prepare(synthetic, tmp_path, 32, progress=False)
    b = prepare(synthetic, tmp_path, 40, progress=False)
    other = registry.create("dataset", "synthetic", None, train=12, val=4, test=6, image_size=48, seed=6)
    c = prepare(other, tmp_path, 32, progress=False)
    assert len({a.path, b.path, c.path}) == 3
    assert decode(b.split("val").table[0]["image"]).shape == (3, 40, 40)


def test_keeps_aspect_and_identity_metadata(registry, tmp_path):
    class Wide(Dataset):
        def splits(self):
            import io

            from PIL import Image

            buffer = io.BytesIO()
            Image.new("RGB", (120, 60), (10, 200, 30)).save(buffer, format="PNG")
            samples = [Sample(buffer.getvalue(), ("a green field",), 7, "wide.png")]
            return {"test": Split("test", samples, Protocol.IDENTITY, folds=1)}

    prepared = prepare(Wide(), tmp_path, 30, progress=False)
    split = prepared.split("test")
    assert split.protocol is Protocol.IDENTITY and split.table[0]["instance_id"] == 7
    assert decode(split.table[0]["image"]).shape == (3, 30, 60)


def test_cached_split_in_a_dataloader(synthetic, tmp_path):
    prepared = prepare(synthetic, tmp_path, 32, progress=False)
    train = CachedSplit(prepared.split("train"), build_transform("paper-train", 28))
    sampler = EpochCaptionSampler(train.captions_per_image, seed=0)
    batches = list(DataLoader(train, batch_size=5, sampler=sampler))
    assert [len(b["caption"]) for b in batches] == [5, 5, 2]
    assert batches[0]["image"].shape == (5, 3, 28, 28) and batches[0]["image"].dtype == torch.float32
    assert sorted(torch.cat([b["index"] for b in batches]).tolist()) == list(range(12))
    for b in batches:
        for index, caption in zip(b["index"].tolist(), b["caption"]):
            assert caption in synthetic.split("train").samples[index].captions
    test = CachedSplit(prepared.split("test"), build_transform("test", 32))
    assert torch.equal(test[2]["image"], test[2]["image"]) and "caption" not in test[2]
    assert test.instance_ids == list(range(6))


def test_workers_can_pickle_the_cache(synthetic, tmp_path):
    prepared = prepare(synthetic, tmp_path, 32, progress=False)
    test = CachedSplit(prepared.split("test"), build_transform("test", 32))
    loaded = list(DataLoader(test, batch_size=3, num_workers=1))
    assert torch.cat([b["image"] for b in loaded]).shape == (6, 3, 32, 32)


def test_stats_rows(synthetic):
    rows = dataset_stats(synthetic)
    assert rows[0] == {
        "split": "train",
        "images": 12,
        "captions": 60,
        "instances": 12,
        "protocol": "image-caption",
        "folds": 1,
    }
    assert [r["split"] for r in rows] == ["train", "val", "test"]


def test_concurrent_builder_that_won_is_used(synthetic, tmp_path, monkeypatch):
    """If another process renamed its build into place first, ours is discarded, not an error."""
    from pathlib import Path

    import itr_bench.data.prepare as module

    real_rename = Path.rename

    def rename_after_rival(self, target):
        rival = Path(target)
        rival.mkdir()
        (rival / module.META_FILE).write_text("{}")  # the rival's finished cache
        os.replace(self / "train.arrow", self / "gone.arrow")
        raise OSError(39, "Directory not empty")

    monkeypatch.setattr(Path, "rename", rename_after_rival)
    monkeypatch.setattr(module, "load_prepared", lambda path: Path(path))
    assert prepare(synthetic, tmp_path, 32, progress=False) == tmp_path / module.cache_key(synthetic, 32, 90)
    monkeypatch.setattr(Path, "rename", real_rename)
    assert [p.name for p in tmp_path.iterdir()] == [module.cache_key(synthetic, 32, 90)]
