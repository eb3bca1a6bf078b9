"""Paired comparisons with the suite's baseline: checked against scipy on hand-made records."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from scipy import stats

from itr_bench.results.leaderboard import (
    aggregate,
    chart,
    load_records,
    markdown,
    whiskers,
    write_leaderboards,
)
from itr_bench.results.stats import paired_difference
from itr_bench.store.record import RECORD

BASE = [10.0, 14.0, 12.0, 11.0, 13.5]
BETTER = [13.0, 16.5, 15.2, 14.1, 16.0]          # consistently above the baseline, seed by seed
NOISY = [30.0, 2.0, 15.0, 9.0, 11.0]              # a higher mean, but no consistent difference


def write_record(root, run, seed, rsum, *, suite="s", dataset="synthetic", index=None, baseline=None):
    folder = root / suite / dataset / run / f"seed-{seed}"
    folder.mkdir(parents=True)
    record = {"suite": suite, "dataset": dataset, "run": run, "seed": seed, "protocol": "image-caption",
              "objective": [{"epochs": 1, "losses": {run: 1.0}}], "config_hash": f"hash-{run}",
              "test": {"rsum": rsum, "i2t_r1": rsum / 6, "t2i_r1": rsum / 7 + seed / 10}, "untrained": {"rsum": 3.0}}
    if index is not None:
        record.update(run_index=index, baseline=baseline)
    (folder / RECORD).write_text(json.dumps(record))


def expected(run, base):
    """Mean paired difference, its 95% t-interval and the two-sided p-value, from scipy."""
    diff = [a - b for a, b in zip(run, base)]
    n = len(diff)
    half = stats.t.ppf(0.975, n - 1) * stats.tstd(diff) / math.sqrt(n)
    mean = sum(diff) / n
    return mean, mean - half, mean + half, stats.ttest_rel(run, base).pvalue


@pytest.mark.parametrize("values, mark", [(BETTER, "better"), (NOISY, "inconclusive"),
                                          ([b - 1.5 + 0.1 * i for i, b in enumerate(BASE)], "worse")])
def test_paired_difference_matches_scipy(values, mark):
    mean, low, high, p = expected(values, BASE)
    diff = paired_difference(dict(enumerate(values)), dict(enumerate(BASE)))
    assert (diff.n, diff.mark) == (5, mark)
    assert (diff.mean, diff.low, diff.high) == pytest.approx((mean, low, high))
    assert (p < 0.05) == (mark != "inconclusive")  # the interval excludes 0 exactly when ttest_rel rejects
    assert diff.p == pytest.approx(p)


def test_only_shared_seeds_are_paired_and_one_seed_is_untested():
    diff = paired_difference({0: 5.0, 1: 7.0, 2: 9.0}, {1: 6.0, 2: 6.5, 3: 1.0})
    mean, low, high, _ = expected([7.0, 9.0], [6.0, 6.5])
    assert diff.n == 2 and (diff.mean, diff.low, diff.high) == pytest.approx((mean, low, high))
    single = paired_difference({0: 5.0}, {0: 3.0})
    assert (single.n, single.mean, single.mark) == (1, 2.0, "untested") and math.isnan(single.low)


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "runs"
    for index, (run, values) in enumerate([("base", BASE), ("better", BETTER), ("noisy", NOISY)]):
        for seed, value in enumerate(values):
            write_record(root, run, seed, value, index=index, baseline="base")
    return root


def test_leaderboard_columns_give_the_paired_differences(store):
    table = aggregate(load_records(store)).set_index("run")
    assert set(table["baseline"]) == {"base"} and set(table["baseline_rule"]) == {"suite"}
    assert table.loc["base", "rsum_vs_baseline"] == "baseline" and math.isnan(table.loc["base", "rsum_diff"])
    for run, values, mark in [("better", BETTER, "better"), ("noisy", NOISY, "inconclusive")]:
        mean, low, high, _ = expected(values, BASE)
        row = table.loc[run]
        assert (row["rsum_diff"], row["rsum_diff_low"], row["rsum_diff_high"]) == pytest.approx((mean, low, high))
        assert row["rsum_vs_baseline"] == mark and row["paired_n"] == 5
        t2i_mean, t2i_low, t2i_high, _ = expected([v / 7 + s / 10 for s, v in enumerate(values)],
                                                  [v / 7 + s / 10 for s, v in enumerate(BASE)])
        assert (row["t2i_r1_diff"], row["t2i_r1_diff_low"], row["t2i_r1_diff_high"]) == pytest.approx(
            (t2i_mean, t2i_low, t2i_high))
        assert "i2t_r1_vs_baseline" in row


def test_the_suite_names_the_baseline_else_first_run_else_first_by_name(tmp_path):
    named = tmp_path / "named"
    for index, run in enumerate(["zeta", "alpha", "mid"]):
        for seed in range(3):
            write_record(named, run, seed, 10.0 + index + seed, index=index, baseline="mid")
    assert set(aggregate(load_records(named))["baseline"]) == {"mid"}
    ordered = tmp_path / "ordered"  # the named baseline has no records here: the first run present
    for index, run in enumerate(["zeta", "alpha"]):
        for seed in range(3):
            write_record(ordered, run, seed, 10.0 + index + seed, index=index, baseline="gone")
    table = aggregate(load_records(ordered))
    assert set(table["baseline"]) == {"zeta"} and set(table["baseline_rule"]) == {"first run"}
    old = tmp_path / "old"  # records made before runs stored their place in the suite
    for run in ["zeta", "alpha"]:
        for seed in range(3):
            write_record(old, run, seed, 10.0 + seed)
    table = aggregate(load_records(old))
    assert set(table["baseline"]) == {"alpha"} and set(table["baseline_rule"]) == {"first by name"}


def test_few_seeds_are_flagged_and_whiskers_stay_in_range(tmp_path):
    root = tmp_path / "runs"
    for index, (run, values) in enumerate([("base", [1.0, 30.0]), ("other", [2.0, 50.0])]):
        for seed, value in enumerate(values):
            write_record(root, run, seed, value, index=index, baseline="base")
    table = aggregate(load_records(root))
    other = table.set_index("run").loc["other"]
    assert other["paired_n"] == 2 and not math.isnan(other["rsum_diff_low"])  # still computed
    text = markdown(table, "s on synthetic")
    assert "n < 3: intervals unreliable" in text
    below, above = whiskers(table, "rsum")
    assert (table["rsum"] - below >= 0).all() and (table["rsum_ci95"] > table["rsum"]).any()
    assert (table["rsum"] + above <= 600).all() and (above == table["rsum_ci95"]).all()
    assert chart(table, "s on synthetic")[:4] == b"\x89PNG"
    three = markdown(aggregate(load_records(_three_seeds(tmp_path))), "t")
    assert "unreliable" not in three and "**n < 5 seeds: the intervals and tests rest on few seeds" in three


def _three_seeds(tmp_path):
    root = tmp_path / "three"
    for index, run in enumerate(["a", "b"]):
        for seed in range(3):
            write_record(root, run, seed, 10.0 + index + seed, index=index, baseline="a")
    return root


def test_markdown_shows_the_marks(store):
    text = markdown(aggregate(load_records(store)), "s on synthetic")
    assert "Δ rsum vs baseline" in text and "| baseline |" in text
    assert " better (p " in text and " inconclusive (p " in text and "no difference" not in text
    assert "Holm-adjusted over the family of this table's 2 comparisons" in text
    assert "**n < 5 seeds" not in text  # five seeds each
    assert "run − base, the suite's baseline" in text


def test_per_seed_export_is_tidy(store, tmp_path):
    records = load_records(store)
    written = write_leaderboards(aggregate(records), tmp_path / "out", records=records)
    seeds = pd.read_csv(tmp_path / "out" / "s__synthetic__seeds.csv")
    assert tmp_path / "out" / "s__synthetic__seeds.csv" in written
    assert list(seeds.columns[:6]) == ["suite", "dataset", "run", "seed", "metric", "value"]
    assert len(seeds) == 3 * 5 * 3 and set(seeds["metric"]) == {"rsum", "i2t_r1", "t2i_r1"}
    row = seeds[(seeds.run == "noisy") & (seeds.seed == 1) & (seeds.metric == "rsum")].iloc[0]
    assert row["value"] == pytest.approx(NOISY[1]) and row["config_hash"] == "hash-noisy"
    # a user's own statistics in pandas reproduce the leaderboard's
    wide = seeds[seeds.metric == "rsum"].pivot(index="seed", columns="run", values="value")
    assert stats.ttest_rel(wide["better"], wide["base"]).pvalue < 0.05


def test_marks_are_holm_corrected_within_each_metric_of_a_table(tmp_path):
    """Five runs against one baseline: each raw p from ttest_rel, adjusted as statsmodels' Holm,
    and a raw p < 0.05 that does not survive the correction is inconclusive."""
    from statsmodels.stats.multitest import multipletests

    root = tmp_path / "runs"
    shifts = {"a": [2.0, 2.4, 1.7, 2.2, 1.9], "b": [0.5, 1.6, 0.2, 1.1, 0.9], "c": [0.3, -0.4, 0.6, 0.1, -0.2],
              "d": [3.0, 3.1, 2.8, 3.3, 2.9], "e": [-0.8, 0.9, 0.4, 1.7, 0.6]}
    for index, (run, values) in enumerate([("base", BASE)] + [(r, [b + d for b, d in zip(BASE, s)])
                                                                 for r, s in shifts.items()]):
        for seed, value in enumerate(values):
            write_record(root, run, seed, value, index=index, baseline="base")
    table = aggregate(load_records(root)).set_index("run").loc[list(shifts)]
    raw = [stats.ttest_rel([b + d for b, d in zip(BASE, s)], BASE).pvalue for s in shifts.values()]
    assert list(table["rsum_p"]) == pytest.approx(raw)
    assert list(table["rsum_p_holm"]) == pytest.approx(list(multipletests(raw, method="holm")[1]))
    rescued = [run for run, p in zip(shifts, raw) if p < 0.05 and table.loc[run, "rsum_p_holm"] >= 0.05]
    assert rescued == ["b"], (raw, list(table["rsum_p_holm"]))
    assert table.loc["b", "rsum_vs_baseline"] == "inconclusive" and table.loc["b", "rsum_diff_low"] > 0
    assert table.loc["a", "rsum_vs_baseline"] == table.loc["d", "rsum_vs_baseline"] == "better"


def test_equivalence_needs_a_margin_and_a_tight_interval(store):
    """TOST: both one-sided tests against ±margin; without a margin nothing is called equivalent."""
    close = [b + d for b, d in zip(BASE, [0.3, -0.2, 0.1, -0.1, 0.2])]
    root = store
    for seed, value in enumerate(close):
        write_record(root, "close", seed, value, index=3, baseline="base")
    plain = aggregate(load_records(root)).set_index("run")
    assert plain.loc["close", "rsum_vs_baseline"] == "inconclusive" and "rsum_margin" not in plain
    table = aggregate(load_records(root), margins={"rsum": 1.0}).set_index("run")
    diff = [c - b for c, b in zip(close, BASE)]
    tost = max(stats.ttest_1samp(diff, -1.0, alternative="greater").pvalue,
               stats.ttest_1samp(diff, 1.0, alternative="less").pvalue)
    assert table.loc["close", "rsum_vs_baseline"] == "equivalent" and table.loc["close", "rsum_margin"] == 1.0
    assert table.loc["close", "rsum_p_equivalence_holm"] >= tost  # Holm never lowers a p-value
    assert table.loc["noisy", "rsum_vs_baseline"] == "inconclusive"  # wide: not shown to be within ±1
    text = markdown(aggregate(load_records(root), margins={"rsum": 1.0}), "s on synthetic")
    assert "equivalent (TOST p " in text and "within the stated margin (rsum ±1)" in text


def test_a_named_baseline_wins_where_a_table_has_it(store, tmp_path):
    table = aggregate(load_records(store), baseline=("noisy",)).set_index("run")
    assert set(table["baseline"]) == {"noisy"} and set(table["baseline_rule"]) == {"named"}
    assert table.loc["noisy", "rsum_vs_baseline"] == "baseline"
    for index, run in enumerate(["base", "better"]):  # a second table, without a run named noisy
        for seed, value in enumerate(BASE):
            write_record(store, run, seed, value + index, suite="t", index=index, baseline="base")
    both = aggregate(load_records(store), baseline=("noisy", "better")).set_index(["suite", "run"])
    assert set(both.loc["s", "baseline"]) == {"noisy"}  # the first named run a table has
    assert set(both.loc["t", "baseline"]) == {"better"} and set(both.loc["t", "baseline_rule"]) == {"named"}
    kept = aggregate(load_records(store), baseline=("noisy",)).set_index(["suite", "run"])
    assert set(kept.loc["t", "baseline"]) == {"base"} and set(kept.loc["t", "baseline_rule"]) == {"suite"}


def test_leaderboard_command_names_the_baseline_and_refuses_an_unknown_one(store, tmp_path, capsys):
    from itr_bench.cli import main

    assert main(["leaderboard", str(store), "--out", str(tmp_path / "b"), "--baseline", "better"]) == 0
    assert "(run − better, named by --baseline)" in (tmp_path / "b" / "s__synthetic.md").read_text()
    capsys.readouterr()
    assert main(["leaderboard", str(store), "--out", str(tmp_path / "c"), "--baseline", "bettr"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--baseline bettr: no leaderboard has a run of that name" in err
    assert "did you mean 'better'" in err and not (tmp_path / "c").exists()
