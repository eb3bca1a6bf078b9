"""Caption sources an unlucky user may hand over: each is one line naming the file and the true
cause, never a traceback or a misleading message (issue 30, cases 8 and 10)."""

from __future__ import annotations

import json

import pytest

from itr_bench.errors import ItrBenchError

from .conftest import caption_rows, write_images


def _message(registry, root, **options) -> str:
    with pytest.raises(ItrBenchError) as info:
        registry.create("dataset", "captions", root, **options).splits()
    message = str(info.value)
    assert "\n" not in message, message
    return message


def test_a_jsonl_value_nested_100000_deep(registry, tmp_path):
    write_images(tmp_path, ["images/a.jpg"])
    deep = '{"filepath": "images/a.jpg", "title": ' + "[" * 100_000 + "]" * 100_000 + "}"
    (tmp_path / "captions.jsonl").write_text(deep + "\n")
    assert _message(registry, tmp_path) == f"{tmp_path / 'captions.jsonl'}:1: JSON nested too deeply"


def test_a_save_to_disk_dataset_with_invalid_utf8(registry, tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = caption_rows(count=10, per_image=1)
    write_images(tmp_path / "saved", [r["filepath"] for r in rows])
    rows[3]["title"] = "caf\u00e9 au lait"
    datasets.Dataset.from_dict({key: [r[key] for r in rows] for key in rows[0]}).save_to_disk(str(tmp_path / "saved"))
    arrow = next((tmp_path / "saved").glob("*.arrow"))
    arrow.write_bytes(arrow.read_bytes().replace("caf\u00e9".encode(), b"caf\xff\xfe"[:5]))
    message = _message(registry, tmp_path / "saved", image_key="filepath", caption_key="title")
    assert message.startswith(f"{tmp_path / 'saved'}: ") and "not valid UTF-8" in message


def test_an_excel_csv_with_a_byte_order_mark_is_read(registry, captions_root):
    path = captions_root / "captions.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    dataset = registry.create("dataset", "captions", captions_root)
    assert len(dataset.split("train").samples) > 0


def test_an_imagefolder_path_leaving_its_folder(registry, tmp_path):
    rows = caption_rows(count=4, per_image=1)
    write_images(tmp_path / "data", [r["filepath"] for r in rows])
    with open(tmp_path / "data" / "metadata.jsonl", "w") as handle:
        handle.writelines(json.dumps({"file_name": row["filepath"], "text": row["title"]}) + "\n" for row in rows)
        handle.write(json.dumps({"file_name": "../outside.jpg", "text": "escape"}) + "\n")
    message = _message(registry, tmp_path / "data")
    assert "../outside.jpg" in message and "outside" in message and "An error occurred" not in message
