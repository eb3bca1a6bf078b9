"""Leaderboards from run records: means, 95% t-intervals, deterministic columns, CSV/MD/PNG."""

import json
import math

import pandas as pd
import pytest
from scipy import stats

from itr_bench.cli import main
from itr_bench.results.leaderboard import aggregate, load_records, write_leaderboards
from itr_bench.store.record import FAILED, RECORD


def write_record(root, suite, dataset, run, seed, rsum, untrained=3.0, protocol="image-caption"):
    folder = root / suite / dataset / run / f"seed-{seed}"
    folder.mkdir(parents=True)
    test = {"rsum": rsum, "i2t_r1": rsum / 6, "t2i_r1": rsum / 7, "i2t_medr": 10.0 - seed}
    record = {"suite": suite, "dataset": dataset, "run": run, "seed": seed, "protocol": protocol,
              "image_encoder": "img", "text_encoder": "txt", "epochs": 3,
              "objective": [{"epochs": 3, "losses": {"instance": 1.0}, "lr_mult": {"image.trunk": 0.0}}],
              "test": test, "untrained": {"rsum": untrained}, "train_pairs_per_second": 100.0,
              "wall_seconds": 5.0}
    (folder / RECORD).write_text(json.dumps(record))


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "runs"
    for seed, value in enumerate([10.0, 14.0, 12.0]):
        write_record(root, "s", "synthetic", "good", seed, value)
    for seed, value in enumerate([4.0, 6.0]):
        write_record(root, "s", "synthetic", "weak", seed, value)
    write_record(root, "s", "other", "good", 0, 50.0)
    return root


def test_mean_and_t_interval_over_seeds(store):
    table = aggregate(load_records(store))
    good = table[(table.dataset == "synthetic") & (table.run == "good")].iloc[0]
    values = [10.0, 14.0, 12.0]
    half = stats.t.ppf(0.975, 2) * pd.Series(values).std(ddof=1) / math.sqrt(3)
    assert good["n"] == 3 and good["seeds"] == "0 1 2"
    assert good["rsum"] == pytest.approx(12.0) and good["rsum_ci95"] == pytest.approx(half)
    assert good["untrained_rsum"] == 3.0
    single = table[table.dataset == "other"].iloc[0]
    assert single["n"] == 1 and math.isnan(single["rsum_ci95"])


def test_rows_best_first_and_columns_deterministic(store, tmp_path):
    table = aggregate(load_records(store))
    assert list(table[table.dataset == "synthetic"].run) == ["good", "weak"]
    assert list(table.columns[:7]) == ["suite", "dataset", "run", "n", "seeds", "rsum", "rsum_ci95"]
    shuffled = aggregate(load_records(store).sample(frac=1, random_state=1))
    assert list(shuffled.columns) == list(table.columns)
    pd.testing.assert_frame_equal(shuffled.reset_index(drop=True), table.reset_index(drop=True))


def test_files_written_per_suite_and_dataset(store, tmp_path):
    out = tmp_path / "boards"
    written = write_leaderboards(aggregate(load_records(store)), out)
    assert sorted(p.name for p in written) == sorted(
        f"s__{d}.{ext}" for d in ("other", "synthetic") for ext in ("csv", "md", "png"))
    csv = pd.read_csv(out / "s__synthetic.csv")
    assert list(csv.run) == ["good", "weak"] and csv.loc[0, "n"] == 3
    md = (out / "s__synthetic.md").read_text()
    assert "| good | 3 | 12.0 ± " in md and "untrained" in md
    assert (out / "s__synthetic.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_leaderboard_command_regenerates_from_records(store, tmp_path, capsys):
    out = tmp_path / "boards"
    assert main(["leaderboard", str(store), "--out", str(out)]) == 0
    first = (out / "s__synthetic.csv").read_text()
    (out / "s__synthetic.csv").write_text("hand edited")
    assert main(["leaderboard", str(store), "--out", str(out)]) == 0
    assert (out / "s__synthetic.csv").read_text() == first
    assert "good" in capsys.readouterr().out


def test_leaderboard_errors_are_one_line(tmp_path, capsys):
    assert main(["leaderboard", str(tmp_path / "missing")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["leaderboard", str(tmp_path / "empty")]) == 2
    assert "no finished runs" in capsys.readouterr().err
    bad = tmp_path / "bad" / "x"
    bad.mkdir(parents=True)
    (bad / RECORD).write_text("{")
    assert main(["leaderboard", str(tmp_path / "bad")]) == 2
    assert "record.json: damaged: not valid JSON" in capsys.readouterr().err


def test_degenerate_seeds_are_counted_and_marked(store, tmp_path):
    out = tmp_path / "boards"
    write_leaderboards(aggregate(load_records(store)), out / "old")
    assert "degenerate" not in pd.read_csv(out / "old" / "s__synthetic.csv")  # older records: no flag, no column
    for seed in range(3):
        path = store / "s" / "synthetic" / "good" / f"seed-{seed}" / RECORD
        record = json.loads(path.read_text())
        path.write_text(json.dumps({**record, "degenerate": seed == 1}))
    write_leaderboards(aggregate(load_records(store)), out / "new")
    csv = pd.read_csv(out / "new" / "s__synthetic.csv").set_index("run")
    assert csv.loc["good", "degenerate"] == 1 and math.isnan(csv.loc["weak", "degenerate"])
    md = (out / "new" / "s__synthetic.md").read_text()
    assert "| good (degenerate: 1 of 3 seeds) | 3 |" in md and "| weak | 2 |" in md
    assert "Degenerate:" in md


def test_failed_runs_show_on_their_own_board_also_under_a_dataset_given_name(tmp_path):
    # a `captions` dataset named "my-photos": records carry the name, store folders and failure
    # notes the registered dataset; a failure of another suite, or of a dataset whose name merely
    # ends like this one's, belongs elsewhere
    root = tmp_path / "runs"
    for seed in (0, 1):
        write_record(root, "s", "captions", "good", seed, 10.0 + seed)
        record = root / "s" / "captions" / "good" / f"seed-{seed}" / RECORD
        data = json.loads(record.read_text())
        record.write_text(json.dumps({**data, "dataset": "my-photos", "config": {"dataset": "captions"}}))
    notes = {("s", "captions", "weak"): "captions/weak/seed-0", ("t", "captions", "other"): "captions/other/seed-0",
             ("s", "my-captions", "x"): "my-captions/x/seed-0"}
    for (suite, dataset, run), label in notes.items():
        folder = root / suite / dataset / run / "seed-0"
        folder.mkdir(parents=True)
        (folder / FAILED).write_text(json.dumps(
            {"run": label, "suite": suite, "dataset": dataset, "reason": f"{run} broke"}))
    records = load_records(root)
    write_leaderboards(aggregate(records), tmp_path / "boards", records.attrs["failed"], records)
    board = (tmp_path / "boards" / "s__my-photos.md").read_text()
    assert "weak broke" in board
    assert "other broke" not in board and "x broke" not in board
