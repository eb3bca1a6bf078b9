"""A corpus of corrupted inputs: each must fail with one line naming the file (and line) and the cause."""

import json
from pathlib import Path

import pytest

from itr_bench.data.prepare import prepare
from itr_bench.errors import ItrBenchError

from .conftest import coco_official, cuhk_records


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _raises(build, pattern: str) -> str:
    with pytest.raises(ItrBenchError) as info:
        build()
    message = str(info.value)
    assert "\n" not in message
    assert pytest.importorskip("re").search(pattern, message), message
    return message


FLICKR8K_CASES = {
    "malformed token line": (
        lambda r: _edit(r / "Flickr8k.token.txt", "1001_abc1.jpg#2\t", "1001_abc1.jpg#2 "),
        r"Flickr8k\.token\.txt:8: malformed caption line",
    ),
    "token line without #k": (
        lambda r: _edit(r / "Flickr8k.token.txt", "1001_abc1.jpg#2\t", "1001_abc1.jpg\t"),
        r"Flickr8k\.token\.txt:8: malformed caption line",
    ),
    "empty caption": (
        lambda r: _edit(
            r / "Flickr8k.token.txt",
            "1002_abc2.jpg#0\tA dog number 2 runs ( fast ) , caption 0 .",
            "1002_abc2.jpg#0\t  ",
        ),
        r"Flickr8k\.token\.txt:11: empty caption for 1002_abc2\.jpg#0",
    ),
    "duplicate caption id": (
        lambda r: _edit(r / "Flickr8k.token.txt", "1000_abc0.jpg#1\t", "1000_abc0.jpg#0\t"),
        r"Flickr8k\.token\.txt:2: duplicate caption id 1000_abc0\.jpg#0 \(first on line 1\)",
    ),
    "image listed in a split but absent": (
        lambda r: _edit(r / "Flickr_8k.testImages.txt", "1004_abc4.jpg", "9999_zzz.jpg"),
        r"Flickr_8k\.testImages\.txt:1: image 9999_zzz\.jpg is listed but has no captions",
    ),
    "duplicate image in a split list": (
        lambda r: (r / "Flickr_8k.trainImages.txt").write_text(
            "1000_abc0.jpg\n1001_abc1.jpg\n1000_abc0.jpg\n"
        ),
        r"Flickr_8k\.trainImages\.txt:3: duplicate image '1000_abc0\.jpg' \(first on line 1\)",
    ),
    "image in two splits": (
        lambda r: _edit(r / "Flickr_8k.testImages.txt", "1004_abc4.jpg", "1000_abc0.jpg"),
        r"Flickr_8k\.testImages\.txt:1: image 1000_abc0\.jpg is also in the train split",
    ),
    "missing split list": (
        lambda r: (r / "Flickr_8k.devImages.txt").unlink(),
        r"Flickr_8k\.devImages\.txt: Flickr8k val list is missing",
    ),
    "missing image folder": (
        lambda r: (
            [p.unlink() for p in (r / "Flicker8k_Dataset").iterdir()] and (r / "Flicker8k_Dataset").rmdir()
        ),
        r"Flicker8k_Dataset: Flickr8k image folder does not exist",
    ),
    "not utf-8": (
        lambda r: (r / "Flickr8k.token.txt").write_bytes(b"\xff\xfe\x00bad"),
        r"Flickr8k\.token\.txt: cannot read text",
    ),
}


@pytest.mark.parametrize("case", sorted(FLICKR8K_CASES))
def test_flickr8k_corpus(registry, flickr8k_root, case):
    corrupt, pattern = FLICKR8K_CASES[case]
    corrupt(flickr8k_root)
    message = _raises(lambda: registry.create("dataset", "flickr8k", flickr8k_root).splits(), pattern)
    assert str(flickr8k_root) in message


def test_missing_root(registry, tmp_path):
    _raises(
        lambda: registry.create("dataset", "flickr8k", tmp_path / "nope"),
        r"nope: flickr8k root folder does not exist",
    )


@pytest.mark.parametrize(
    "corrupt, pattern",
    [
        (lambda p: p.unlink(), r"1002_abc2\.jpg: image file is missing \(image 1002_abc2\.jpg\)"),
        (lambda p: p.write_bytes(b"not a jpeg at all"), r"1002_abc2\.jpg: cannot decode image"),
        (lambda p: p.write_bytes(p.read_bytes()[:40]), r"1002_abc2\.jpg: cannot decode image"),
    ],
    ids=["missing", "garbage", "truncated"],
)
def test_bad_image_when_prepared(registry, flickr8k_root, tmp_path, corrupt, pattern):
    corrupt(flickr8k_root / "Flicker8k_Dataset" / "1002_abc2.jpg")
    dataset = registry.create("dataset", "flickr8k", flickr8k_root)
    dataset.splits()  # parsing does not open images
    _raises(lambda: prepare(dataset, tmp_path / "cache", 32, progress=False), pattern)
    assert not [p for p in (tmp_path / "cache").iterdir()]  # no half-built cache is left


def _coco(tmp_path, train=None, val=None):
    (tmp_path / "annotations").mkdir(exist_ok=True)
    for part, data in (("train", train), ("val", val)):
        data = (
            data
            if data is not None
            else coco_official(
                range(1, 6) if part == "train" else range(6, 9), part, 0 if part == "train" else 100
            )
        )
        (tmp_path / "annotations" / f"captions_{part}2017.json").write_text(
            json.dumps(data) if not isinstance(data, str) else data
        )
    return lambda registry: registry.create(
        "dataset", "mscoco", tmp_path, split="by-file", val_size=1
    ).splits()


def _without(data, section, index, key):
    del data[section][index][key]
    return data


COCO_CASES = {
    "annotation missing caption": (
        lambda: dict(train=_without(coco_official(range(1, 6), "t"), "annotations", 3, "caption")),
        r"captions_train2017\.json: annotations\[3\] has no field 'caption'",
    ),
    "image missing file_name": (
        lambda: dict(val=_without(coco_official(range(6, 9), "v"), "images", 1, "file_name")),
        r"captions_val2017\.json: images\[1\] has no field 'file_name'",
    ),
    "no annotations": (
        lambda: dict(train={"images": []}),
        r"captions_train2017\.json: the top level has no field 'annotations'",
    ),
    "duplicate image id": (
        lambda: dict(train=coco_official([1, 2, 2], "t")),
        r"captions_train2017\.json: images\[2\] repeats image id 2",
    ),
    "empty caption": (
        lambda: dict(
            val={**coco_official([7], "v"), "annotations": [{"image_id": 7, "id": 1, "caption": "  "}]}
        ),
        r"captions_val2017\.json: annotations\[0\] \(image 7\) has an empty caption",
    ),
    "caption of unknown image": (
        lambda: dict(
            val={**coco_official([7], "v"), "annotations": [{"image_id": 8, "id": 1, "caption": "x"}]}
        ),
        r"captions_val2017\.json: annotations\[0\] refers to image id 8",
    ),
    "image without captions": (
        lambda: dict(
            val={**coco_official([7, 8], "v"), "annotations": [{"image_id": 7, "id": 1, "caption": "x"}]}
        ),
        r"captions_val2017\.json: image 8 \(000000000008\.jpg\) has no captions",
    ),
    "invalid json": (lambda: dict(train='{"images": [}'), r"captions_train2017\.json:1: invalid JSON"),
    "same image in both files": (
        lambda: dict(val=coco_official([5, 6], "v", 100)),
        r"captions_val2017\.json: image id 5 is also in the train file",
    ),
}


@pytest.mark.parametrize("case", sorted(COCO_CASES))
def test_coco_corpus(registry, tmp_path, case):
    files, pattern = COCO_CASES[case]
    build = _coco(tmp_path, **files())
    _raises(lambda: build(registry), pattern)


def test_karpathy_missing_sentences(registry, tmp_path):
    from .conftest import karpathy_coco

    data = karpathy_coco(["train", "test"])
    del data["images"][1]["sentences"]
    (tmp_path / "dataset_coco.json").write_text(json.dumps(data))
    _raises(
        lambda: registry.create("dataset", "mscoco", tmp_path).splits(),
        r"dataset_coco\.json: images\[1\] has no field 'sentences'",
    )


CUHK_CASES = {
    "record missing id": (lambda rs: rs[2].pop("id"), r"reid_raw\.json: record 2 has no field 'id'"),
    "record missing file_path": (
        lambda rs: rs[0].pop("file_path"),
        r"reid_raw\.json: record 0 has no field 'file_path'",
    ),
    "id not an integer": (
        lambda rs: rs[1].update(id="7"),
        r"reid_raw\.json: record 1 field 'id' is str, expected int",
    ),
    "empty caption": (
        lambda rs: rs[4]["captions"].append(""),
        r"reid_raw\.json: record 4 \(CUHK01/0009004\.png\) has an empty caption",
    ),
    "no captions": (
        lambda rs: rs[4].update(captions=[]),
        r"reid_raw\.json: record 4 \(CUHK01/0009004\.png\) has no captions",
    ),
    "duplicate image": (
        lambda rs: rs[3].update(file_path=rs[0]["file_path"]),
        r"reid_raw\.json: record 3 repeats image CUHK01/0005000\.png",
    ),
    "bad split value": (
        lambda rs: [r.update(split="train") for r in rs] and rs[5].update(split="gallery"),
        r"record 5 has split 'gallery'",
    ),
    "split on some records only": (
        lambda rs: rs[0].update(split="train"),
        r"reid_raw\.json: record 1 has no field 'split' but others do",
    ),
}


@pytest.mark.parametrize("case", sorted(CUHK_CASES))
def test_cuhk_corpus(registry, tmp_path, case):
    records = cuhk_records()
    corrupt, pattern = CUHK_CASES[case]
    corrupt(records)
    (tmp_path / "reid_raw.json").write_text(json.dumps(records))
    _raises(
        lambda: registry.create("dataset", "cuhk-pedes", tmp_path, split_sizes=(6, 2, 2)).splits(), pattern
    )


def test_bad_options(registry, tmp_path):
    (tmp_path / "dataset_coco.json").write_text("{}")
    _raises(
        lambda: registry.create("dataset", "mscoco", tmp_path, protocol="2k"),
        r"protocol: dataset 'mscoco' \(plugin 'itr_bench_datasets'\): expected one of '1k', '5k', got '2k'",
    )
    _raises(
        lambda: registry.create("dataset", "synthetic", None, train=10**6),
        r"synthetic: train\+val\+test must be",
    )


def _csv_rows(root: Path):
    import csv

    with open(root / "captions.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _rewrite(root: Path, change) -> None:
    from .conftest import write_csv

    rows = _csv_rows(root)
    change(rows)
    write_csv(root / "captions.csv", rows)


CAPTIONS_CASES = {
    "missing caption column": (
        lambda r: _rewrite(r, lambda rows: [row.update(caption=row.pop("title")) for row in rows]),
        r"captions\.csv: no column 'title' \(set caption_key=\.\.\.; the columns are: filepath, split, caption\)",
    ),
    "missing image column": (
        lambda r: _rewrite(r, lambda rows: [row.pop("filepath") for row in rows]),
        r"captions\.csv: no column 'filepath' \(set image_key=\.\.\.; the columns are: title, split\)",
    ),
    "empty caption": (
        lambda r: _rewrite(r, lambda rows: rows[4].update(title="   ")),
        r"captions\.csv:6: empty caption in column 'title'",
    ),
    "empty image path": (
        lambda r: _rewrite(r, lambda rows: rows[2].update(filepath="")),
        r"captions\.csv:4: empty image path in column 'filepath'",
    ),
    "missing image file": (
        lambda r: (r / "images" / "003.jpg").unlink(),
        r"captions\.csv:8: image file \S+images/003\.jpg does not exist",
    ),
    "undecodable image": (
        lambda r: (r / "images" / "005.jpg").write_bytes(b"not a jpeg at all"),
        r"captions\.csv:12: \S+images/005\.jpg is not a readable image",
    ),
    "duplicate image rows with conflicting splits": (
        lambda r: _rewrite(r, lambda rows: rows[13].update(split="test")),
        r"captions\.csv:15: image images/006\.jpg has split 'test' here but 'val' at \S+captions\.csv:14",
    ),
    "unknown split value": (
        lambda r: _rewrite(r, lambda rows: [row.update(split="gallery") for row in rows if row["split"] == "test"]),
        r"captions\.csv:18: split 'gallery' is not train, val or test",
    ),
    "short row": (
        lambda r: (r / "captions.csv").write_text((r / "captions.csv").read_text() + "images/000.jpg\n"),
        r"captions\.csv:22: the row has fewer fields than the header's 3",
    ),
    "not utf-8": (
        lambda r: (r / "captions.csv").write_bytes(b"filepath,title\n\xff\xfe,bad\n"),
        r"captions\.csv: not UTF-8 text",
    ),
}


@pytest.mark.parametrize("case", sorted(CAPTIONS_CASES))
def test_captions_corpus(registry, captions_root, case):
    corrupt, pattern = CAPTIONS_CASES[case]
    corrupt(captions_root)
    message = _raises(lambda: registry.create("dataset", "captions", captions_root).splits(), pattern)
    assert str(captions_root) in message


JSONL_CASES = {
    "invalid json": ('{"filepath": "images/000.jpg", "title": "x"\n', r"c\.jsonl:1: invalid JSON"),
    "not an object": ('["images/000.jpg", "x"]\n', r"c\.jsonl:1: is a JSON list, expected an object"),
    "missing field on a later line": (
        '{"filepath": "images/000.jpg", "title": "x"}\n{"filepath": "images/001.jpg", "text": "y"}\n',
        r"c\.jsonl:2: no field 'title' \(fields: filepath, text\)",
    ),
    "empty caption in a list": (
        '{"filepath": "images/000.jpg", "title": ["fine", ""]}\n', r"c\.jsonl:1: empty caption in field 'title'"
    ),
    "split on some lines only": (
        '{"filepath": "images/000.jpg", "title": "a", "split": "train"}\n{"filepath": "images/001.jpg", "title": "b"}\n',
        r"c\.jsonl:2: no field 'split'",
    ),
    "conflicting instance": (
        '{"filepath": "images/000.jpg", "title": "a", "instance": 1}\n'
        '{"filepath": "images/000.jpg", "title": "b", "instance": 2}\n',
        r"c\.jsonl:2: image images/000\.jpg has instance '2' here but '1' at",
    ),
}


@pytest.mark.parametrize("case", sorted(JSONL_CASES))
def test_captions_jsonl_corpus(registry, captions_root, case):
    text, pattern = JSONL_CASES[case]
    (captions_root / "captions.csv").unlink()
    (captions_root / "c.jsonl").write_text(text)
    _raises(lambda: registry.create("dataset", "captions", captions_root).splits(), pattern)


def test_captions_hf_missing_column_names_the_columns(registry, tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"image": ["a.jpg"], "caption": ["x"]}).save_to_disk(str(tmp_path / "saved"))
    _raises(
        lambda: registry.create("dataset", "captions", tmp_path / "saved").splits(),
        r"saved \(train\): no column 'text' \(set caption_key=\.\.\.; the columns are: image, caption\)",
    )


def test_captions_truncated_image_is_caught_when_prepared(registry, captions_root, tmp_path):
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    image = captions_root / "images" / "002.jpg"
    image.write_bytes(buffer.getvalue()[:3000])  # the header is whole, the pixels are cut short
    dataset = registry.create("dataset", "captions", captions_root)
    dataset.splits()
    _raises(lambda: prepare(dataset, tmp_path / "cache", 32, progress=False), r"images/002\.jpg: cannot decode image")
