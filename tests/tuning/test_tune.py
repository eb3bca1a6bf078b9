"""``itr-bench tune`` end to end on tiny synthetic data: equal trials per run, validation only,
tuned runs scored on test, the tuned leaderboard, and a third-party loss's declared space."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import optuna
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from annotated_types import Gt
from optuna.trial import TrialState
from tiny_tune import plugin_manager, write_suite

import itr_bench
from itr_bench.api import Loss, Search
from itr_bench.cli import main
from itr_bench.results.leaderboard import load_records

TRIALS = 2


def studies(store: Path, suite: str = "mini") -> dict[str, optuna.Study]:
    url = f"sqlite:///{store / suite / 'tune.db'}"
    return {s.study_name: optuna.load_study(study_name=s.study_name, storage=url)
            for s in optuna.get_all_study_summaries(storage=url)}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, cache):
    """The two-loss suite tuned once (2 trials each, median pruner), then retrained on 2 seeds."""
    root = tmp_path_factory.mktemp("tuned")
    suite = write_suite(root / "mini.toml", cache, trials=TRIALS, tune='pruner = "median"')
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("itr_bench.cli.get_plugin_manager", plugin_manager)
        code = main(["tune", str(suite), "--store", str(root / "runs"), "--no-progress"])
    assert code == 0
    return root / "runs"


def test_every_run_gets_exactly_its_trials_each_reporting_validation(tuned):
    found = studies(tuned)
    assert sorted(found) == ["mini/synthetic/infonce", "mini/synthetic/triplet"]
    for study in found.values():
        states = [t.state for t in study.trials]
        assert states == [TrialState.COMPLETE] * TRIALS
        assert all(t.intermediate_values for t in study.trials)  # the pruner saw each validation


def test_no_trial_record_holds_a_test_metric_and_tuned_records_do(tuned):
    trials = sorted(tuned.glob("mini/synthetic/*/tune/trial-*/record.json"))
    assert len(trials) == 2 * TRIALS
    for path in trials:
        record = json.loads(path.read_text())
        assert "test" not in record and "untrained" not in record and "test" not in record["collapse"]
        assert record["config"]["score_test"] is False and record["seed"] == 100
        assert record["val"]["rsum"] >= 0 and set(record["trial"]["params"]) >= {"stages.0.lr"}
        assert not (path.parent / "best").exists() and not (path.parent / "last").exists()
    finals = sorted(tuned.glob("mini-tuned/synthetic/*/seed-*/record.json"))
    assert len(finals) == 4
    for path in finals:
        record = json.loads(path.read_text())
        assert record["test"]["rsum"] >= 0 and record["seed"] in (0, 1)
        tuning = record["tuning"]
        assert tuning["trials"] == TRIALS and tuning["best_value"] >= tuning["median_value"]
        for key, value in tuning["best_params"].items():  # the best trial's values, retrained
            node = record["config"]
            *parents, last = key.split(".")
            for part in parents:
                node = node[int(part)] if part.isdigit() else node[part]
            assert node[last] == pytest.approx(value)


def test_leaderboards_never_count_a_trial(tuned, cli, tmp_path):
    assert load_records(tuned / "mini").empty  # only trials there
    code, _, err = cli("leaderboard", tuned / "mini", "--out", tmp_path)
    assert code == 2 and "no finished runs" in err
    records = load_records(tuned)
    assert set(records["suite"]) == {"mini-tuned"} and len(records) == 4


def test_tuned_leaderboard_shows_best_values_trials_and_sensitivity(tuned):
    board = tuned / "mini-tuned" / "leaderboard"
    text = (board / "mini-tuned__synthetic__tuning.md").read_text()
    assert "| run | tuned test rsum | trials | best val rsum | median val rsum | sensitivity | best values |" in text
    assert "Δ rsum vs baseline" in text  # the usual table with paired differences comes first
    table = pd.read_csv(board / "mini-tuned__synthetic__tuning.csv")
    assert list(table["run"]) == ["infonce", "triplet"] and list(table["trials"]) == [TRIALS, TRIALS]
    assert (table["sensitivity"] == table["best_value"] - table["median_value"]).all()
    assert table["best_params"].str.contains("loss_options.triplet.margin=").any()
    for run in ("infonce", "triplet"):
        assert (board / f"mini-tuned__synthetic__{run}__history.png").read_bytes()[:4] == b"\x89PNG"


def test_rerun_after_the_end_trains_nothing_and_dry_run_times_a_trial(tuned, cli):
    suite = tuned.parent / "mini.toml"
    before = {p: p.stat().st_mtime_ns for p in tuned.rglob("record.json")}
    code, out, err = cli("tune", suite, "--store", tuned, "--no-progress")
    assert code == 0, err
    assert {p: p.stat().st_mtime_ns for p in tuned.rglob("record.json")} == before
    code, out, _ = cli("tune", suite, "--store", tuned, "--dry-run")
    assert code == 0
    assert "2 runs x 2 trials x 1 epochs" in out and f"{TRIALS} of {TRIALS} finished" in out
    assert "one trial took" in out


def test_a_trial_on_several_seeds_trains_each_and_scores_their_mean(cli, cache, tmp_path):
    """tune.seed = [100, 101]: each trial is one validation-only run per seed, its value their mean;
    a rerun trains nothing, and the tuned records name both seeds."""
    suite = write_suite(tmp_path / "mini.toml", cache, trials=2, seed="[100, 101]")
    store = tmp_path / "runs"
    code, _, err = cli("tune", suite, "--store", store, "--no-progress")
    assert code == 0, err
    for name, study in studies(store).items():
        run = name.split("/")[-1]
        assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
        for trial in study.trials:
            folder = store / "mini" / "synthetic" / run / "tune" / f"trial-{trial.number:04d}"
            assert not (folder / "record.json").exists()
            records = [json.loads((folder / f"seed-{seed}" / "record.json").read_text()) for seed in (100, 101)]
            assert [r["seed"] for r in records] == [100, 101]
            assert all("test" not in r and r["trial"]["params"] == trial.params for r in records)
            values = [max(e["val"]["rsum"] for e in r["history"] if "val" in e) for r in records]
            assert trial.value == pytest.approx(sum(values) / 2)
    tuned = [json.loads(p.read_text()) for p in store.glob("mini-tuned/synthetic/*/seed-*/record.json")]
    assert len(tuned) == 4 and all(r["tuning"]["trial_seeds"] == [100, 101] for r in tuned)
    before = {p: p.stat().st_mtime_ns for p in store.rglob("record.json")}
    code, out, _ = cli("tune", suite, "--store", store, "--dry-run")
    assert code == 0 and "trial seeds 100, 101, objective their mean" in out and "x 2 seeds" in out
    assert {p: p.stat().st_mtime_ns for p in store.rglob("record.json")} == before


# ============================================================================================
# A third-party loss: its declared space is searched; a loss that declares none is said to be
# ============================================================================================


class ScaledContrast(Loss):
    """Symmetric InfoNCE at a fixed logit scale.

    Args:
        scale: logit scale.
    """

    def __init__(self, context, scale: Annotated[float, Gt(0), Search(3.0, 4.0)] = 3.5):
        super().__init__()
        self.scale = scale

    def compute(self, image, text, instance_ids):
        logits = self.scale * image @ text.T
        target = torch.arange(len(image))
        return {"contrast": (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2}


class PlainContrast(ScaledContrast):
    """The same at scale 10, with no search range declared.

    Args:
        scale: logit scale.
    """

    def __init__(self, context, scale: Annotated[float, Gt(0)] = 10.0):
        super().__init__(context, scale)


class ThirdParty:
    @itr_bench.hookimpl
    def register_losses(self, register):
        register("scaled", ScaledContrast)
        register("plain", PlainContrast)


def test_a_third_party_losss_declared_space_is_honoured(cli, cache, tmp_path):
    suite = write_suite(tmp_path / "mini.toml", cache, trials=3, second="scaled")
    suite.write_text(suite.read_text().replace('name = "infonce"', 'name = "plain"')
                     .replace("infonce = 1.0", "plain = 1.0"))
    code, _, err = cli("tune", suite, "--store", tmp_path / "runs", "--no-progress", "--with-defaults",
                         plugins=[ThirdParty()])
    assert code == 0, err
    found = studies(tmp_path / "runs")
    scaled = found["mini/synthetic/scaled"].trials
    assert len(scaled) == 3
    values = [t.params["loss_options.scaled.scale"] for t in scaled]
    assert all(3.0 <= v <= 4.0 for v in values) and len(set(values)) == 3
    assert all(set(t.params) == {"stages.0.lr"} for t in found["mini/synthetic/plain"].trials)
    text = (tmp_path / "runs" / "mini-tuned" / "leaderboard" / "mini-tuned__synthetic__tuning.md").read_text()
    assert "| plain (shared settings only) |" in text
    assert "no loss of the run declares a search range" in text
