import json

import pytest

from itr_bench.api import Protocol
from itr_bench.errors import ItrBenchError

from .conftest import cuhk_records


def test_split_by_file_order(registry, cuhk_root):
    dataset = registry.create("dataset", "cuhk-pedes", cuhk_root, split_sizes=(6, 2, 2))
    train, val, test = (dataset.split(s) for s in ("train", "val", "test"))
    assert [len(s.samples) for s in (train, val, test)] == [6, 2, 2]
    assert train.protocol is Protocol.IDENTITY and test.protocol is Protocol.IDENTITY
    # persons 5,5,7,9,9,11 -> classes 0,0,1,2,2,3
    assert [s.instance_id for s in train.samples] == [0, 0, 1, 2, 2, 3]
    assert train.num_instances == 4 and train.num_captions == 12
    assert train.samples[0].image == cuhk_root / "imgs" / "CUHK01/0005000.png"
    assert dataset.text.max_words == 56 and dataset.hints["dropout"] == 0.8


def test_official_sizes_are_the_default(registry, cuhk_root):
    with pytest.raises(
        ItrBenchError,
        match=r"reid_raw\.json: 10 records, but the split by file order expects 34054\+3078\+3074",
    ):
        registry.create("dataset", "cuhk-pedes", cuhk_root).splits()


def test_split_field_when_present(registry, tmp_path):
    (tmp_path / "reid_raw.json").write_text(json.dumps(cuhk_records(with_split=True)[::-1]))
    dataset = registry.create("dataset", "cuhk-pedes", tmp_path)
    assert [len(dataset.split(s).samples) for s in ("train", "val", "test")] == [6, 2, 2]
    assert sorted(s.instance_id for s in dataset.split("test").samples) == [0, 1]
