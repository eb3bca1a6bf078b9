"""The registered quickstart runs each arm at the setting its committed tuning study chose on
validation: the study's best trial applied to the tuning config's base gives the quickstart's run
config, key for key, and every trial of that study was scored on validation only."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from itr_bench.suites.plan import expand, load_suite
from itr_bench.tuning.space import apply_params, read_tune

ROOT = Path(__file__).resolve().parents[2]
TUNE_CONFIG = ROOT / "leaderboards" / "configs" / "quickstart-tuned.toml"
STORE = ROOT / "leaderboards" / "tuning-quickstart" / "store"
DB = STORE / "quickstart" / "tune.db"


@pytest.fixture
def best_params(tmp_path):
    """Each run's best trial params, read from a copy of the committed study (reading never writes it)."""
    import optuna

    copy = tmp_path / "tune.db"
    shutil.copyfile(DB, copy)
    storage = optuna.storages.RDBStorage(f"sqlite:///{copy}")
    out = {}
    for summary in optuna.get_all_study_summaries(storage):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        out[summary.study_name] = (study.best_trial.params, len(study.trials))
    return out


def test_each_quickstart_arm_is_its_studys_best_trial(registry, tmp_path, best_params):
    tuned, tuned_where = load_suite(str(TUNE_CONFIG), registry)
    shipped, shipped_where = load_suite("quickstart", registry)
    assert tuned["suite"]["seeds"] == shipped["suite"]["seeds"]
    bases = {run.run: run for run in expand(tuned, registry, tuned_where, tmp_path / "a", seeds=[0])}
    runs = {run.run: run for run in expand(shipped, registry, shipped_where, tmp_path / "b", seeds=[0])}
    assert set(bases) == set(runs) and len(runs) == 4
    for name, run in runs.items():
        params, trials = best_params[f"quickstart/synthetic/{name}"]
        assert trials == tuned["tune"]["trials"], name
        expected = apply_params(bases[name].config, params, name)
        assert expected.as_dict() == run.config.as_dict(), name


def test_the_studys_trials_never_saw_test(registry):
    tuned, where = load_suite(str(TUNE_CONFIG), registry)
    seeds = read_tune(tuned, where).seeds
    records = sorted([*STORE.glob("quickstart/synthetic/*/tune/trial-*/record.json"),
                      *STORE.glob("quickstart/synthetic/*/tune/trial-*/seed-*/record.json")])
    assert len(records) == len(tuned["runs"]) * tuned["tune"]["trials"] * len(seeds)
    for path in records:
        record = json.loads(path.read_text())
        assert "test" not in record and "untrained" not in record, path
        assert record["config"]["score_test"] is False and record["seed"] in seeds, path
