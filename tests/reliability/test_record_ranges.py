"""Impossible values in a record stop the leaderboard with one line naming them (issue 30, case 5)."""

from __future__ import annotations

import json

import pytest

from .lines import one_line


def write_record(root, seed, **changes):
    folder = root / "s" / "synthetic" / "good" / f"seed-{seed}"
    folder.mkdir(parents=True)
    record = {"suite": "s", "dataset": "synthetic", "run": "good", "seed": seed, "epochs": 1,
              "test": {"rsum": 300.0, "i2t_r1": 50.0, "t2i_r1": 40.0, "i2t_medr": 2.0},
              "train_pairs_per_second": 100.0, "wall_seconds": 5.0}
    for key, value in changes.items():
        if key in ("rsum", "i2t_r1", "i2t_medr"):
            record["test"][key] = value
        else:
            record[key] = value
    (folder / "record.json").write_text(json.dumps(record))
    return folder / "record.json"


CASES = {
    "huge rSum": ({"rsum": 1e308}, "test.rsum: 1e+308 is impossible (it must be in [0, 600])"),
    "negative rSum": ({"rsum": -50.0}, "test.rsum: -50.0 is impossible (it must be in [0, 600])"),
    "R@1 above 100": ({"i2t_r1": 250.0}, "test.i2t_r1: 250.0 is impossible (it must be in [0, 100])"),
    "median rank below 1": ({"i2t_medr": -3.0}, "test.i2t_medr: -3.0 is impossible (it must be at least 1)"),
    "negative pairs/s": ({"train_pairs_per_second": -5.0},
                         "train_pairs_per_second: -5.0 is impossible (it must be at least 0)"),
    "negative wall time": ({"wall_seconds": -1}, "wall_seconds: -1 is impossible (it must be at least 0)"),
    "untrained R@1 above 100": ({"untrained": {"i2t_r1": 101}},
                                "untrained.i2t_r1: 101 is impossible (it must be in [0, 100])"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_a_value_outside_its_range_is_named_in_one_line(cli, tmp_path, case):
    changes, expected = CASES[case]
    write_record(tmp_path / "runs", 0)
    bad = write_record(tmp_path / "runs", 1, **changes)
    code, _, err = cli("leaderboard", tmp_path / "runs", "--out", tmp_path / "boards")
    assert code == 2
    assert f"{bad}: {expected}" in one_line(err)
    assert not (tmp_path / "boards").exists()


def test_a_negative_seed_is_named(cli, tmp_path):
    bad = write_record(tmp_path / "runs", -1)
    code, _, err = cli("leaderboard", tmp_path / "runs", "--out", tmp_path / "boards")
    assert code == 2 and f"{bad}: seed: -1 is impossible (it must be at least 0)" in one_line(err)
