"""Data edited in place is noticed: a finished run on it is ``changed``, its cache rebuilt (issue 30, case 2)."""

from __future__ import annotations

import csv
import os

import pytest
from tiny_toml import stage, write_suite

from .lines import one_line


def write_captions_suite(path, cache, root, *, name="mine", run="instance"):
    """A suite of one epoch of the instance loss on the user's ``captions`` file under ``root``."""
    return write_suite(path, cache, name=name, datasets=["captions"], root=str(root), negatives="random",
                       runs=[{"name": run, "stages": [stage({"instance": 1.0})]}])


def write_images(root, shade=0):
    from PIL import Image

    (root / "images").mkdir(parents=True, exist_ok=True)
    for k in range(24):
        Image.new("RGB", (16, 16), ((k * 10 + shade) % 256, shade, 40)).save(root / "images" / f"{k:02d}.png")


def write_captions(root, word="red"):
    with open(root / "captions.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filepath", "title"])
        writer.writerows([f"images/{k:02d}.png", f"a {word} square number {k}"] for k in range(24))


@pytest.fixture
def finished(cli, tmp_path):
    root = tmp_path / "data"
    write_images(root)
    write_captions(root)
    suite = write_captions_suite(tmp_path / "mine.toml", tmp_path / "cache", root)
    assert cli("run", suite, "--store", tmp_path / "store", "--no-progress")[0] == 0
    return root, suite


def rerun(cli, suite, tmp_path, *more):
    return cli("run", suite, "--store", tmp_path / "store", "--no-progress", *more)


def test_unchanged_data_reuses_the_run(cli, finished, tmp_path):
    _, suite = finished
    code, _, err = rerun(cli, suite, tmp_path)
    assert code == 0 and "1 already finished" in err


def test_rewritten_captions_make_the_run_changed(cli, finished, tmp_path):
    root, suite = finished
    stat = (root / "captions.csv").stat()
    write_captions(root, word="blue")  # same length, same time stamp: only the contents say it
    os.utime(root / "captions.csv", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    code, _, err = rerun(cli, suite, tmp_path)
    assert code == 2
    assert one_line(err).startswith("itr-bench: error: captions/instance/seed-0: trained under another config (")
    assert "data (dataset files, captions or options) " in err


def test_an_unfinished_run_is_not_resumed_on_edited_data(cli, finished, tmp_path):
    root, suite = finished
    run = tmp_path / "store" / "mine" / "captions" / "instance" / "seed-0"
    (run / "record.json").unlink()  # killed before its record: its checkpoint is what is left
    assert "data_fingerprint" in (run / "best" / "state.json").read_text()
    write_captions(root, word="green")
    code, _, err = rerun(cli, suite, tmp_path)
    assert code == 2 and "best/state.json): data (dataset files, captions or options) " in one_line(err)


def test_dry_run_shows_edited_data_as_changed(cli, finished, tmp_path):
    root, suite = finished
    write_captions(root, word="green")
    code, out, _ = rerun(cli, suite, tmp_path, "--dry-run")
    assert code == 0 and out.startswith("changed  captions/instance/seed-0 ") and "data (dataset files" in out


def test_overwritten_images_make_the_run_changed_and_rebuild_the_cache(cli, finished, tmp_path):
    root, suite = finished
    caches = set((tmp_path / "cache").iterdir())
    write_images(root, shade=99)
    code, _, err = rerun(cli, suite, tmp_path)
    assert code != 0 and "data (dataset files" in err
    code, _, err = rerun(cli, suite, tmp_path, "--rerun-changed")
    assert code == 0
    assert len(set((tmp_path / "cache").iterdir()) - caches) == 1  # a new cache entry for the new pixels


def test_an_emptied_image_is_one_line_naming_it(cli, finished, tmp_path):
    root, _ = finished
    (root / "images" / "03.png").write_bytes(b"")
    code, _, err = cli("evaluate", tmp_path / "store" / "mine" / "captions" / "instance" / "seed-0")
    assert code == 2
    assert "03.png" in one_line(err)
