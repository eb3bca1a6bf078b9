"""Helpers to write small datasets in their authors' exact formats (independent of the loaders)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image


def jpeg_bytes(colour=(200, 30, 30), size=(40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def write_images(folder: Path, names, size=(40, 30)) -> None:
    for k, name in enumerate(names):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg_bytes(((k * 37) % 256, (k * 91) % 256, 128), size))


@pytest.fixture
def flickr8k_root(tmp_path) -> Path:
    """A 6-image Flickr8k: 3 train, 1 dev, 1 test, 1 captioned but unlisted."""
    names = [f"{1000 + k}_abc{k}.jpg" for k in range(6)]
    lines = [
        f"{name}#{j}\tA dog number {k} runs ( fast ) , caption {j} ."
        for k, name in enumerate(names)
        for j in range(5)
    ]
    (tmp_path / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "Flickr_8k.trainImages.txt").write_text("\n".join(names[:3]) + "\n")
    (tmp_path / "Flickr_8k.devImages.txt").write_text(names[3] + "\n")
    (tmp_path / "Flickr_8k.testImages.txt").write_text(names[4] + "\n")
    write_images(tmp_path / "Flicker8k_Dataset", names)
    return tmp_path


def cuhk_records(persons=(5, 5, 7, 9, 9, 11, 12, 12, 13, 14), with_split=False):
    records = []
    for k, person in enumerate(persons):
        record = {
            "file_path": f"CUHK01/{person:04d}{k:03d}.png",
            "captions": [
                f"The man number {person} wears a blue shirt .",
                f"A person {k} with black trousers",
            ],
            "id": person,
            "processed_tokens": [["the", "man"], ["a", "person"]],
        }
        if with_split:
            record["split"] = "train" if k < 6 else "val" if k < 8 else "test"
        records.append(record)
    return records


@pytest.fixture
def cuhk_root(tmp_path) -> Path:
    records = cuhk_records()
    (tmp_path / "reid_raw.json").write_text(json.dumps(records))
    write_images(tmp_path / "imgs", [r["file_path"] for r in records], size=(32, 64))
    return tmp_path


def coco_official(ids, folder, first_annotation=0):
    images = [{"id": i, "file_name": f"{i:012d}.jpg", "height": 30, "width": 40, "license": 1} for i in ids]
    annotations = [
        {"image_id": i, "id": first_annotation + 10 * n + j, "caption": f"A cat number {i} sits on mat {j}? "}
        for n, i in enumerate(ids)
        for j in range(5)
    ]
    return {"info": {}, "licenses": [], "images": images, "annotations": annotations}


def karpathy_coco(splits):
    images = []
    for k, split in enumerate(splits):
        folder = "val2014" if split != "train" else "train2014"
        images.append(
            {
                "filepath": folder,
                "filename": f"COCO_{folder}_{k:012d}.jpg",
                "imgid": k,
                "cocoid": 1000 + k,
                "split": split,
                "sentids": [5 * k + j for j in range(5)],
                "sentences": [
                    {
                        "tokens": ["a", "cat"],
                        "raw": f"A cat {k} sentence {j}.",
                        "imgid": k,
                        "sentid": 5 * k + j,
                    }
                    for j in range(5)
                ],
            }
        )
    return {"images": images, "dataset": "coco"}


def caption_rows(count=10, per_image=2, with_split=True):
    """open_clip-style rows (``filepath``, ``title``, ``split``): ``per_image`` rows per image."""
    rows = []
    for k in range(count):
        split = "train" if k < count - 4 else "val" if k < count - 2 else "test"
        for j in range(per_image):
            row = {"filepath": f"images/{k:03d}.jpg", "title": f"a red square number {k}, caption {j}"}
            if with_split:
                row["split"] = split
            rows.append(row)
    return rows


def write_csv(path: Path, rows, separator=",") -> Path:
    import csv

    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=separator)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def captions_root(tmp_path) -> Path:
    """A folder with ``captions.csv`` (10 images, 2 rows each, split column) and its images."""
    rows = caption_rows()
    write_csv(tmp_path / "captions.csv", rows)
    write_images(tmp_path, sorted({r["filepath"] for r in rows}))
    return tmp_path
