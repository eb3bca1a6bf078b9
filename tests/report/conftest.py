"""Report fixtures: two tiny trained runs (built-in dual-path encoders, shrunk) on one test split."""

import shutil

import pytest
from tiny_dualpath import write_run_config

from itr_bench.cli import main


def train(folder, name, loss, test=16):
    config = write_run_config(folder / f"{name}.toml", folder / "cache", name=name, loss=loss, test=test)
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

