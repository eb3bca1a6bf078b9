"""A leaderboard row never averages seeds trained under different configs (issue 30, case 1)."""

from __future__ import annotations

import pytest
from tiny_toml import stage, write_suite

from .lines import one_line


def write_mini_suite(path, cache, *, loss="instance", **defaults):
    """The one-run suite of these tests: one epoch of ``loss`` on the tiny encoders, seed 0."""
    return write_suite(path, cache, runs=[{"name": "instance", "stages": [stage({loss: 1.0}, lr=0.1)]}],
                       negatives="random", **defaults)


@pytest.fixture
def mixed_store(cli, tmp_path):
    suite = write_mini_suite(tmp_path / "mini.toml", tmp_path / "cache")
    store = tmp_path / "store"
    assert cli("run", suite, "--store", store, "--no-progress")[0] == 0
    code, _, err = cli("run", suite, "--store", store, "--no-progress", "--seeds", "1",
                       "--set", "stages.0.lr=0.05")
    return store, code, err


def test_a_run_whose_seeds_differ_in_config_gets_no_row(mixed_store):
    _, code, err = mixed_store
    assert code == 2
    assert ("leaderboard not written: mini/synthetic/instance: seeds 0 and seeds 1 ran under different configs "
            "(stages[0].lr 0.1 -> 0.05)") in err


def test_leaderboard_command_refuses_mixed_seeds_in_one_line(cli, mixed_store, tmp_path):
    store, _, _ = mixed_store
    code, _, err = cli("leaderboard", store, "--out", tmp_path / "boards")
    assert code == 2
    assert "seeds 0 and seeds 1 ran under different configs (stages[0].lr 0.1 -> 0.05)" in one_line(err)
    assert not (tmp_path / "boards").exists()


def test_split_configs_gives_one_labelled_row_per_config(cli, mixed_store, tmp_path):
    store, _, _ = mixed_store
    code, _, _ = cli("leaderboard", store, "--out", tmp_path / "boards", "--split-configs")
    assert code == 0
    board = (tmp_path / "boards" / "mini__synthetic.csv").read_text()
    rows = board.splitlines()[1:]
    assert len(rows) == 2 and all(",instance [config " in row and ",1," in row for row in rows), board
