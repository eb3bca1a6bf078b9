"""Benchmarking on your own captions: the dataset's name reaches records and leaderboards, folds are checked at dry-run."""

import csv
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from itr_bench_datasets.synthetic import all_scenes, caption, render
from tiny_models import TinyPlugin

import itr_bench
from itr_bench.api import Dataset, Protocol, Sample, Split
from itr_bench.cli import main
from itr_bench.data.prepare import prepare
from itr_bench.errors import ConfigError, ItrBenchError
from itr_bench.plugins import get_plugin_manager, load_registry
from itr_bench.results.leaderboard import aggregate, load_records, write_leaderboards
from itr_bench.store.record import RECORD
from itr_bench.suites.executors import execute_local
from itr_bench.suites.plan import check_datasets, expand


def shapes_csv(folder, images=200, captions_per_image=2, size=32):
    """``images`` small rendered scenes with captions, as an open_clip CSV without a split column."""
    (folder / "images").mkdir(parents=True)
    scenes = all_scenes()
    order = np.random.default_rng(0).permutation(len(scenes))[:images]
    rows = []
    for k, index in enumerate(order):
        rng = np.random.default_rng([0, k])
        (folder / "images" / f"{k:04d}.png").write_bytes(render(scenes[index], size, rng))
        rows += [{"filepath": f"images/{k:04d}.png", "title": caption(scenes[index], rng)}
                 for _ in range(captions_per_image)]
    with open(folder / "captions.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["filepath", "title"])
        writer.writeheader()
        writer.writerows(rows)
    return folder


TINY = {"image_encoder": "tiny-image", "text_encoder": "tiny-text", "image_size": 16, "batch_size": 16,
        "device": "cpu", "untrained_baseline": False}


@pytest.fixture
def tiny_registry(pm, register_plugin):
    register_plugin(TinyPlugin(), "tiny")
    return load_registry(pm)


def test_the_given_name_labels_records_folders_stay_and_leaderboards(tiny_registry, tmp_path):
    root = shapes_csv(tmp_path / "data", images=40, captions_per_image=1, size=16)
    suite = {
        "suite": {"name": "mine", "datasets": ["captions"], "seeds": [0]},
        "defaults": {**TINY, "cache_dir": str(tmp_path / "cache"), "root": str(root),
                     "dataset_options": {"name": "my-photos"}},
        # the paper's ranking loss takes its negatives from the dataset's hint ("hardest" here)
        "runs": [{"name": "ranking", "stages": [{"epochs": 1, "losses": {"ranking": 1.0}}]}],
    }
    runs = expand(suite, tiny_registry, "mine.toml", tmp_path / "store")
    assert check_datasets(runs, tiny_registry) == [
        "dataset my-photos (captions): train 32, val 4, test 4 images; test: image-caption, 1 fold"]
    assert [o.status for o in execute_local(runs, tiny_registry, progress=False)] == ["done"]
    record = json.loads((runs[0].folder / RECORD).read_text())
    assert record["dataset"] == "my-photos" and record["config"]["dataset"] == "captions"
    assert "hardest" in json.dumps(record["negatives"])
    records = load_records(tmp_path / "store" / "mine")
    written = write_leaderboards(aggregate(records), tmp_path / "boards")
    assert sorted(p.name for p in written) == ["mine__my-photos.csv", "mine__my-photos.md", "mine__my-photos.png"]
    assert "mine on my-photos" in (tmp_path / "boards" / "mine__my-photos.md").read_text()


class TooManyFolds(Dataset):
    """Four test images asked to be cut into five folds."""

    def __init__(self, root=None):
        pass

    def splits(self) -> Mapping[str, Split]:
        samples = [Sample(b"x", ("a caption",), i, f"im{i}") for i in range(4)]
        return {name: Split(name, samples, Protocol.IMAGE_CAPTION, 5 if name == "test" else 1)
                for name in ("train", "val", "test")}


class FoldsPlugin:
    @itr_bench.hookimpl
    def register_datasets(self, register):
        register("too-many-folds", TooManyFolds)


def test_impossible_folds_are_one_config_line_at_dry_run_and_prepare(tiny_registry, pm, register_plugin, tmp_path):
    register_plugin(FoldsPlugin(), "folds")
    registry = load_registry(pm)
    suite = {"suite": {"name": "s", "datasets": ["too-many-folds"]}, "defaults": TINY,
             "runs": [{"name": "r", "stages": [{"epochs": 1, "losses": {"instance": 1.0}}]}]}
    runs = expand(suite, registry, "s.toml", tmp_path / "store")
    with pytest.raises(ConfigError, match=r"s/r/seed-0: dataset 'too-many-folds': the test split has 4 images, "
                                          r"which cannot be cut into 5 folds"):
        check_datasets(runs, registry)
    with pytest.raises(ConfigError, match="the test split has 4 images, which cannot be cut into 5 folds"):
        prepare(TooManyFolds(), tmp_path / "cache", 16, progress=False)
    assert not list((tmp_path / "cache").iterdir())  # nothing half-built


def test_dry_run_shows_the_plan_and_says_which_dataset_it_could_not_check(tiny_registry, tmp_path):
    suite = {"suite": {"name": "s", "datasets": ["flickr8k"]}, "defaults": TINY,
             "runs": [{"name": "r", "stages": [{"epochs": 1, "losses": {"instance": 1.0}}]}]}
    runs = expand(suite, tiny_registry, "s.toml", tmp_path / "store")
    assert check_datasets(runs, tiny_registry) == [
        "dataset flickr8k: not checked: flickr8k/r/seed-0: dataset 'flickr8k' (plugin 'itr_bench_datasets'): "
        "flickr8k: no root folder given (pass --root DIR)"]
    missing = {**suite, "defaults": {**TINY, "root": str(tmp_path / "nowhere")}}
    runs = expand(missing, tiny_registry, "s.toml", tmp_path / "store")
    with pytest.raises(ItrBenchError):  # a root that was given is checked, and its fault is an error
        check_datasets(runs, tiny_registry)


def _coco_file(ids, first=0):
    images = [{"id": i, "file_name": f"{i:012d}.jpg", "height": 30, "width": 40} for i in ids]
    annotations = [{"image_id": i, "id": first + 10 * n + j, "caption": f"a cat {i} sits {j}"}
                   for n, i in enumerate(ids) for j in range(5)]
    return json.dumps({"images": images, "annotations": annotations})


def test_dry_run_refuses_coco_1k_on_a_small_test_split(tmp_path, capsys):
    """Before: the suite trained, then evaluate raised 'ValueError: 4 images cannot be cut into 5 folds'."""
    (tmp_path / "coco" / "annotations").mkdir(parents=True)
    (tmp_path / "coco" / "annotations" / "captions_train2017.json").write_text(_coco_file(range(1, 9)))
    (tmp_path / "coco" / "annotations" / "captions_val2017.json").write_text(_coco_file(range(20, 24), 500))
    (tmp_path / "s.toml").write_text(
        '[suite]\nname = "s"\ndatasets = ["mscoco"]\n[defaults]\nimage_encoder = "timm"\ntext_encoder = "hf-text"\n'
        'text_options = { model = "any-local-model" }\n'  # its one required option
        'dataset_options = { split = "by-file", val_size = 2 }\n'
        '[[runs]]\nname = "r"\nstages = [{ epochs = 1, losses = { infonce = 1.0 } }]\n')
    code = main(["run", str(tmp_path / "s.toml"), "--root", str(tmp_path / "coco"), "--dry-run",
                 "--store", str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        "itr-bench: error: mscoco: protocol=1k cuts the test split into 5 folds, but it has 4 images; "
        "use protocol=5k (one fold)")
    code = main(["run", str(tmp_path / "s.toml"), "--root", str(tmp_path / "coco"), "--dry-run",
                 "--store", str(tmp_path / "store"), "--set", 'dataset_options={"split": "by-file", "val_size": 2, '
                 '"protocol": "5k"}'])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "dataset mscoco (mscoco): train 6, val 2, test 4 images; test: image-caption, 1 fold" in err
    assert "todo  mscoco/r/seed-0" in out


README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_own_data_example_works(tmp_path, capsys, monkeypatch):
    """The README's example, on a folder laid out as its comment says (the run as a dry run)."""
    import re
    import shlex

    block = re.search(r"<!-- own-data-example[^\n]*-->\n```bash\n(.*?)```", README.read_text(), flags=re.S)
    assert block, "the README's own-data example is missing"
    commands = [shlex.split(line, comments=True) for line in block.group(1).splitlines() if line.startswith("itr-bench")]
    assert [c[:2] for c in commands] == [["itr-bench", "list"], ["itr-bench", "run"]]
    shapes_csv(tmp_path / "my-photos", images=30, captions_per_image=1, size=16)
    monkeypatch.chdir(tmp_path)
    assert main(commands[0][1:]) == 0
    out, _ = capsys.readouterr()
    assert out.split() == "SPLIT IMAGES CAPTIONS INSTANCES PROTOCOL FOLDS train 24 24 24 image-caption 1 val 3 3 3 " \
                          "image-caption 1 test 3 3 3 image-caption 1".split()
    assert main([*commands[1][1:], "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert "dataset my-photos (captions): train 24, val 3, test 3 images" in err
    assert "todo  captions/infonce/seed-0  runs/loss-shootout/captions/infonce/seed-0" in out


@pytest.mark.slow
def test_loss_shootout_on_a_200_image_csv(tmp_path, capsys):
    """The quickstart-sized loss-shootout (its model, options and every loss) on your CSV.

    Kept short: 1 epoch instead of 8, 1 seed, 16-px inputs, no untrained baseline.
    """
    root = shapes_csv(tmp_path / "mine", images=200)
    registry = load_registry(get_plugin_manager())
    text = Path(registry.create("suite", "loss-shootout")).read_text()
    old = "epochs = 8, lr = 0.1, lr_steps = [6]"
    assert old in text
    (tmp_path / "shootout.toml").write_text(text.replace(old, "epochs = 1, lr = 0.1, lr_steps = []"))
    code = main(["run", str(tmp_path / "shootout.toml"), "--datasets", "captions", "--root", f"captions={root}",
                 "--seeds", "0", "--store", str(tmp_path / "store"), "--no-progress",
                 "--set", 'dataset_options={"name": "my-shapes"}', "--set", f"cache_dir={tmp_path / 'cache'}",
                 "--set", "device=cpu", "--set", "image_size=16", "--set", "untrained_baseline=false"])
    out, err = capsys.readouterr()
    assert code == 0, err
    board = pd.read_csv(tmp_path / "store" / "loss-shootout" / "leaderboard" / "loss-shootout__my-shapes.csv")
    assert sorted(board["run"]) == registry.names("loss") and set(board["dataset"]) == {"my-shapes"}
    assert "loss-shootout on my-shapes" in out
    record = json.loads(next((tmp_path / "store").rglob(RECORD)).read_text())
    assert record["dataset"] == "my-shapes" and record["folds"] == 1
    assert record["test"]["rsum"] >= 0 and len(record["history"]) == 1
