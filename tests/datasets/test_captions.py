"""``captions``: the user's own CSV/TSV, JSONL or Hugging Face dataset, read as a built-in dataset."""

import json
from pathlib import Path

import pytest

from itr_bench.api import Protocol
from itr_bench.errors import ConfigError
from itr_bench.testing import check_dataset

from .conftest import caption_rows, jpeg_bytes, write_csv, write_images


def _split_images(dataset):
    return {name: [s.image_id for s in split.samples] for name, split in dataset.splits().items()}


def test_csv_rows_of_one_image_are_one_sample(registry, captions_root):
    dataset = registry.create("dataset", "captions", captions_root)
    check_dataset(dataset)
    splits = dataset.splits()
    assert {n: len(s.samples) for n, s in splits.items()} == {"train": 6, "val": 2, "test": 2}
    first = splits["train"].samples[0]
    assert first.captions == ("a red square number 0, caption 0", "a red square number 0, caption 1")
    assert first.image == captions_root / "images" / "000.jpg" and first.image_id == "images/000.jpg"
    assert [s.instance_id for s in splits["val"].samples] == [0, 1]
    assert splits["test"].protocol is Protocol.IMAGE_CAPTION and splits["test"].folds == 1
    assert dataset.hints == {"negatives": "hardest"}  # the paper's Flickr/COCO negatives


def test_root_may_be_the_file_and_paths_may_be_absolute(registry, tmp_path):
    rows = caption_rows()
    write_images(tmp_path / "pictures", sorted({r["filepath"] for r in rows}))
    for row in rows:
        row["filepath"] = str(tmp_path / "pictures" / row["filepath"])
    (tmp_path / "meta").mkdir()
    path = write_csv(tmp_path / "meta" / "mine.csv", rows)
    dataset = registry.create("dataset", "captions", path)
    assert dataset.split("train").samples[0].image == tmp_path / "pictures" / "images" / "000.jpg"
    via_option = registry.create("dataset", "captions", tmp_path, file="meta/mine.csv")
    assert _split_images(via_option) == _split_images(dataset)


def test_tsv_and_custom_columns_and_separator(registry, tmp_path):
    rows = [{"img": r["filepath"], "caption": r["title"], "part": r["split"]} for r in caption_rows()]
    write_images(tmp_path, sorted({r["img"] for r in rows}))
    write_csv(tmp_path / "data.tsv", rows, separator="\t")
    dataset = registry.create("dataset", "captions", tmp_path, image_key="img", caption_key="caption", split_key="part")
    assert len(dataset.split("train").samples) == 6
    write_csv(tmp_path / "semi.csv", rows, separator=";")
    semi = registry.create("dataset", "captions", tmp_path, file="semi.csv", separator=";", image_key="img",
                           caption_key="caption", split_key="part")
    assert _split_images(semi) == _split_images(dataset)


def test_jsonl_caption_lists_and_instances_give_the_identity_protocol(registry, tmp_path):
    write_images(tmp_path, [f"p/{k}.jpg" for k in range(12)])
    with open(tmp_path / "people.jsonl", "w") as handle:
        for k in range(12):
            record = {"filepath": f"p/{k}.jpg", "title": [f"person {k // 3} photo {k}", "someone walking"],
                      "person": f"id-{k // 3}"}
            handle.write(json.dumps(record) + "\n\n")  # blank lines are skipped
    dataset = registry.create("dataset", "captions", tmp_path, instance_key="person", val_size=1, test_size=1)
    check_dataset(dataset)
    splits = dataset.splits()
    assert all(split.protocol is Protocol.IDENTITY for split in splits.values())
    assert [len(s.samples) for s in splits.values()] == [6, 3, 3]  # 4 persons of 3 photos: 2 / 1 / 1
    persons = {name: {s.image_id for s in split.samples} for name, split in splits.items()}
    assert not persons["train"] & persons["test"]
    assert [s.instance_id for s in splits["train"].samples] == [0, 0, 0, 1, 1, 1]
    assert splits["test"].samples[0].captions[1] == "someone walking"
    assert dataset.hints == {"negatives": "random"}  # the paper's CUHK-PEDES negatives


def test_seeded_split_without_a_split_column(registry, tmp_path):
    rows = caption_rows(count=50, per_image=1, with_split=False)
    write_images(tmp_path, [r["filepath"] for r in rows])
    write_csv(tmp_path / "c.csv", rows)
    default = registry.create("dataset", "captions", tmp_path)
    assert {n: len(s.samples) for n, s in default.splits().items()} == {"train": 40, "val": 5, "test": 5}
    again = registry.create("dataset", "captions", tmp_path)
    assert _split_images(again) == _split_images(default)
    other = registry.create("dataset", "captions", tmp_path, seed=1)
    assert _split_images(other)["test"] != _split_images(default)["test"]
    sized = registry.create("dataset", "captions", tmp_path, val_size=10, test_size=0.3)
    assert {n: len(s.samples) for n, s in sized.splits().items()} == {"train": 25, "val": 10, "test": 15}
    assert default.fingerprint() != other.fingerprint() != sized.fingerprint()


def test_folds_name_and_fingerprint(registry, captions_root):
    dataset = registry.create("dataset", "captions", captions_root, folds=2, name="my-photos")
    assert dataset.split("test").folds == 2 and dataset.split("train").folds == 1
    assert dataset.label("captions") == "my-photos"
    assert registry.create("dataset", "captions", captions_root).label("captions") == "captions"
    plain = registry.create("dataset", "captions", captions_root).fingerprint()
    assert registry.create("dataset", "captions", captions_root, name="other").fingerprint() == plain  # same cache
    csv = captions_root / "captions.csv"
    csv.write_text(csv.read_text() + "images/000.jpg,one more caption,train\n")
    assert registry.create("dataset", "captions", captions_root).fingerprint() != plain


def _hf_rows(tmp_path, count=10):
    rows = caption_rows(count=count, per_image=1)
    write_images(tmp_path, [r["filepath"] for r in rows])
    return rows


def test_imagefolder_with_metadata_jsonl(registry, tmp_path):
    rows = _hf_rows(tmp_path)
    with open(tmp_path / "metadata.jsonl", "w") as handle:
        for row in rows:
            handle.write(json.dumps({"file_name": row["filepath"], "text": row["title"], "split": row["split"]}) + "\n")
    dataset = registry.create("dataset", "captions", tmp_path)
    check_dataset(dataset)
    test = dataset.split("test").samples
    assert [s.captions for s in test] == [(rows[8]["title"],), (rows[9]["title"],)]
    assert test[0].image == tmp_path / "images" / "008.jpg"


def test_imagefolder_with_metadata_csv_and_no_split(registry, tmp_path):
    rows = _hf_rows(tmp_path, count=20)
    write_csv(tmp_path / "metadata.csv", [{"file_name": r["filepath"], "caption": r["title"]} for r in rows])
    dataset = registry.create("dataset", "captions", tmp_path, caption_key="caption", test_size=4, val_size=4)
    assert {n: len(s.samples) for n, s in dataset.splits().items()} == {"train": 12, "val": 4, "test": 4}


def test_save_to_disk_dict_with_decoded_images(registry, tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = _hf_rows(tmp_path / "src")
    parts = {}
    for split, hf_name in (("train", "train"), ("val", "validation"), ("test", "test")):
        chosen = [r for r in rows if r["split"] == split]
        parts[hf_name] = datasets.Dataset.from_dict(
            {"image": [{"bytes": (tmp_path / "src" / r["filepath"]).read_bytes(), "path": r["filepath"]} for r in chosen],
             "text": [r["title"] for r in chosen]},
            features=datasets.Features({"image": datasets.Image(), "text": datasets.Value("string")}),
        )
    datasets.DatasetDict(parts).save_to_disk(str(tmp_path / "saved"))
    dataset = registry.create("dataset", "captions", tmp_path / "saved", name="hf-set")
    check_dataset(dataset)
    splits = dataset.splits()
    assert {n: len(s.samples) for n, s in splits.items()} == {"train": 6, "val": 2, "test": 2}
    sample = splits["val"].samples[0]
    assert isinstance(sample.image, bytes) and sample.image == (tmp_path / "src" / "images" / "006.jpg").read_bytes()
    assert sample.image_id == "006.jpg"  # datasets keeps the file name of embedded images


def test_save_to_disk_with_a_path_column(registry, tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = _hf_rows(tmp_path / "saved")
    table = datasets.Dataset.from_dict({key: [r[key] for r in rows] for key in rows[0]})
    table.save_to_disk(str(tmp_path / "saved"))
    dataset = registry.create("dataset", "captions", tmp_path / "saved", image_key="filepath", caption_key="title")
    assert dataset.split("train").samples[0].image == tmp_path / "saved" / "images" / "000.jpg"


@pytest.mark.parametrize("options, message", [
    ({"val_size": 2}, "has a 'split' column, so val_size would be ignored"),
    ({"name": "my photos"}, "captions: option name: 'my photos' is not a valid name"),
    ({"folds": 3}, "folds=3 cuts the test split into 3 parts, but it has 2 images"),
    ({"file": "nope.csv"}, "nope.csv: file given by option file='nope.csv' does not exist"),
    ({"split_key": "part"}, "no column 'part' (set split_key=...; the columns are: filepath, title, split)"),
])
def test_option_errors(registry, captions_root, options, message):
    with pytest.raises(ConfigError) as info:
        registry.create("dataset", "captions", captions_root, **options).splits()
    assert message in str(info.value)


def test_seeded_sizes_must_leave_training_images(registry, tmp_path):
    rows = caption_rows(count=4, per_image=1, with_split=False)
    write_images(tmp_path, [r["filepath"] for r in rows])
    write_csv(tmp_path / "c.csv", rows)
    with pytest.raises(ConfigError, match="4 images cannot give 2 to val and 2 to test"):
        registry.create("dataset", "captions", tmp_path, val_size=2, test_size=2).splits()


def test_source_discovery(registry, captions_root, tmp_path):
    write_csv(captions_root / "second.csv", caption_rows())
    with pytest.raises(ConfigError, match=r"several caption files \(captions.csv, second.csv\); choose one with -o file"):
        registry.create("dataset", "captions", captions_root)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no .csv, .tsv or .jsonl file"):
        registry.create("dataset", "captions", tmp_path / "empty")
    with pytest.raises(ConfigError, match="captions root does not exist"):
        registry.create("dataset", "captions", tmp_path / "missing")


def test_decoded_bytes_are_checked_like_files(registry, tmp_path):
    datasets = pytest.importorskip("datasets")
    table = datasets.Dataset.from_dict(
        {"image": [{"bytes": jpeg_bytes(), "path": "a.jpg"}, {"bytes": b"not an image", "path": "b.jpg"}],
         "text": ["a", "b"]},
        features=datasets.Features({"image": datasets.Image(), "text": datasets.Value("string")}),
    )
    table.save_to_disk(str(tmp_path / "saved"))
    with pytest.raises(ConfigError, match=r"saved \(train row 1\): image b.jpg is not a readable image"):
        registry.create("dataset", "captions", tmp_path / "saved").splits()


# ============================================================================================
# The real Flickr8k, converted: each format must give exactly the built-in loader's splits
# ============================================================================================


def _flickr8k_as_rows(registry, root: Path):
    reference = registry.create("dataset", "flickr8k", root, unlisted=False)
    expected = {name: [(Path(s.image), s.captions) for s in split.samples] for name, split in reference.splits().items()}
    return reference, expected


def _as_expected(dataset):
    return {name: [(Path(s.image), s.captions) for s in split.samples] for name, split in dataset.splits().items()}


@pytest.mark.slow
def test_real_flickr8k_as_csv_jsonl_and_save_to_disk(registry, shared_datasets, tmp_path):
    """Caption and split metadata only: images are header-checked by the loader, never decoded."""
    datasets = pytest.importorskip("datasets")
    root = shared_datasets / "flickr8k"
    _, expected = _flickr8k_as_rows(registry, root)
    assert [len(v) for v in expected.values()] == [6000, 1000, 1000]
    rows = [{"filepath": str(image), "title": caption, "split": split}
            for split, images in expected.items() for image, captions in images for caption in captions]
    write_csv(tmp_path / "flickr8k.csv", rows)
    with open(tmp_path / "flickr8k.jsonl", "w") as handle:
        for split, images in expected.items():
            for image, captions in images:
                handle.write(json.dumps({"filepath": str(image), "title": list(captions), "split": split}) + "\n")
    saved = datasets.DatasetDict({
        hf_name: datasets.Dataset.from_dict({"image": [str(i) for i, _ in expected[split]],
                                             "text": [list(c) for _, c in expected[split]]})
        for split, hf_name in (("train", "train"), ("val", "validation"), ("test", "test"))
    })
    saved.save_to_disk(str(tmp_path / "saved"))
    for source, options in ((tmp_path / "flickr8k.csv", {}), (tmp_path / "flickr8k.jsonl", {}),
                            (tmp_path / "saved", {"image_key": "image", "caption_key": "text"})):
        converted = registry.create("dataset", "captions", source, name="flickr8k-mine", **options)
        assert _as_expected(converted) == expected, source.name
        assert sum(s.num_captions for s in converted.splits().values()) == 40000


def test_imagefolder_split_folders_are_the_splits(registry, tmp_path):
    rows = caption_rows(count=10, per_image=1)
    for row in rows:
        folder = {"train": "train", "val": "validation", "test": "test"}[row["split"]]
        write_images(tmp_path / folder, [row["filepath"]])
        with open(tmp_path / folder / "metadata.jsonl", "a") as handle:
            handle.write(json.dumps({"file_name": row["filepath"], "text": row["title"]}) + "\n")
    dataset = registry.create("dataset", "captions", tmp_path)
    assert {n: len(s.samples) for n, s in dataset.splits().items()} == {"train": 6, "val": 2, "test": 2}
    assert dataset.split("val").samples[0].image == tmp_path / "validation" / "images" / "006.jpg"


def test_split_spellings_of_one_image_agree(registry, tmp_path):
    rows = caption_rows()
    assert rows[13]["filepath"] == "images/006.jpg" and rows[13]["split"] == "val"
    rows[13]["split"] = "Validation"
    write_images(tmp_path, sorted({r["filepath"] for r in rows}))
    write_csv(tmp_path / "c.csv", rows)
    dataset = registry.create("dataset", "captions", tmp_path)
    assert len(dataset.split("val").samples[0].captions) == 2
