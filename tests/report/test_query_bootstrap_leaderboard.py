"""``itr-bench leaderboard --query-bootstrap`` on tiny real runs."""

import pandas as pd
import pytest

from itr_bench.cli import main
from itr_bench.store.per_query import PER_QUERY


def test_query_intervals_sit_beside_the_seed_level_difference(runs, tmp_path, capsys):
    out = tmp_path / "boards"
    assert main(["leaderboard", str(runs), "--out", str(out), "--query-bootstrap"]) == 0
    board = pd.read_csv(out / "-__synthetic.csv")
    intervals = pd.read_csv(out / "-__synthetic__query_bootstrap.csv")
    assert list(intervals["metric"]) == ["rsum", "i2t_r1", "t2i_r1"]  # the paired metrics, for the one non-baseline run
    assert set(intervals["run"]) == {"instance"} and set(intervals["baseline"]) == {"infonce"}
    row = board.set_index("run").loc["instance"]
    for _, interval in intervals.iterrows():
        assert interval["diff"] == pytest.approx(row[f"{interval['metric']}_diff"], abs=1e-3)
        assert interval["query_low"] <= interval["diff"] <= interval["query_high"]
        assert interval["resamples"] == 10_000 and interval["seeds"] == 1
    again = tmp_path / "again"
    assert main(["leaderboard", str(runs), "--out", str(again), "--query-bootstrap"]) == 0
    assert (again / "-__synthetic__query_bootstrap.csv").read_text() == (
        out / "-__synthetic__query_bootstrap.csv").read_text()  # a fixed resampling seed


def test_runs_without_per_query_results_are_left_out_with_a_warning(runs, tmp_path, capsys):
    (runs / "instance" / PER_QUERY).unlink()
    assert main(["leaderboard", str(runs), "--out", str(tmp_path / "boards"), "--query-bootstrap"]) == 0
    err = capsys.readouterr().err
    assert f"warning: {runs / 'instance' / PER_QUERY}: no per-query results" in err
    assert "no run shares a seed" in err
    assert (tmp_path / "boards" / "-__synthetic.csv").exists()
