"""Report fixtures: two tiny trained runs (built-in dual-path encoders, shrunk) on one test split."""

import shutil

import pytest

from itr_bench.cli import main

CONFIG = """
[run]
name = "{name}"
dataset = "synthetic"
dataset_options = {{ train = 32, val = 16, test = {test}, image_size = 16 }}
image_encoder = "dualpath-image"
image_options = {{ backbone = "resnet18", width = 0.0625 }}
text_encoder = "dualpath-textcnn"
text_options = {{ width = 0.0625, blocks = [1, 1, 1, 1], word2vec = "train", word2vec_min_count = 1 }}
image_size = 16
batch_size = 16
device = "cpu"
cache_dir = "{cache}"

[[stages]]
epochs = 1
lr = 0.05
losses = {{ {loss} = 1.0 }}
"""


def train(folder, name, loss, test=16):
    config = folder / f"{name}.toml"
    config.write_text(CONFIG.format(name=name, loss=loss, test=test, cache=folder / "cache"))
    assert main(["train", str(config), "--out", str(folder / "runs" / name), "--no-progress"]) == 0
    return folder / "runs" / name


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Folder with ``runs/infonce`` and ``runs/instance``, trained once per test module."""
    folder = tmp_path_factory.mktemp("report")
    train(folder, "infonce", "infonce")
    train(folder, "instance", "instance")
    return folder


@pytest.fixture
def runs(trained, tmp_path):
    """A private copy of the trained runs (tests damage them)."""
    shutil.copytree(trained / "runs", tmp_path / "runs")
    return tmp_path / "runs"

