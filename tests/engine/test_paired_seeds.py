"""Seed k of every run in a suite starts from the same encoders and sees the same batches.

The leaderboard's paired differences are only paired if this holds: runs that differ in their
loss must not differ in their encoders' initial weights, their batches, or the random stream
dropout draws from once training starts (a loss's own parameters must not shift it).
"""

from __future__ import annotations

import json

import pytest
import torch
from tiny_models import tiny_config

from itr_bench.engine import run as run_module
from itr_bench.engine.run import train_run
from itr_bench.store.record import RECORD
from itr_bench.suites.executors import execute_local
from itr_bench.suites.plan import expand

TINY = {"image_encoder": "tiny-image", "text_encoder": "tiny-text", "image_size": 16, "batch_size": 16,
        "device": "cpu", "dataset_options": {"train": 48, "val": 16, "test": 16, "image_size": 16}}


def two_loss_suite(cache, **suite_keys):
    return {
        "suite": {"name": "paired", "datasets": ["synthetic"], "seeds": [0, 1], **suite_keys},
        "defaults": {**TINY, "cache_dir": str(cache), "untrained_baseline": False},
        "runs": [
            {"name": "infonce", "stages": [{"epochs": 1, "losses": {"infonce": 1.0}}]},
            {"name": "instance", "stages": [{"epochs": 1, "losses": {"instance": 1.0}}]},
            {"name": "cmpc", "stages": [{"epochs": 1, "losses": {"cmpc": 1.0}}]},
        ],
    }


@pytest.mark.slow
def test_runs_with_different_losses_start_alike_at_each_seed(tiny_registry, tmp_path):
    planned = expand(two_loss_suite(tmp_path / "cache"), tiny_registry, "paired.toml", tmp_path / "store")
    assert all(o.status == "done" for o in execute_local(planned, tiny_registry, progress=False))
    records = [json.loads((p.folder / RECORD).read_text()) for p in planned]
    for seed in (0, 1):
        same_seed = [r for r in records if r["seed"] == seed]
        assert {r["run"] for r in same_seed} == {"infonce", "instance", "cmpc"}
        assert len({json.dumps(r["init_digest"], sort_keys=True) for r in same_seed}) == 1
        assert len({r["first_batch_digest"] for r in same_seed}) == 1
        assert same_seed[0]["first_batch_digest"]
    by_seed = {r["seed"]: r for r in records if r["run"] == "infonce"}
    assert by_seed[0]["init_digest"] != by_seed[1]["init_digest"]
    assert by_seed[0]["first_batch_digest"] != by_seed[1]["first_batch_digest"]
    # the suite's first run is the baseline, and each record knows its place in the suite
    assert {(r["run"], r["run_index"], r["baseline"]) for r in records} == {
        ("infonce", 0, "infonce"), ("instance", 1, "infonce"), ("cmpc", 2, "infonce")}


class _Captured(Exception):
    pass


def test_a_loss_s_parameters_do_not_shift_the_training_stream(tiny_registry, tmp_path, monkeypatch):
    """Dropout and other draws during training start from the same state whatever the losses are."""
    captured = []

    class Probe:  # stands in for the Trainer: captures the state training would start from
        def __init__(self, model, *args, **kwargs):
            captured.append((torch.get_rng_state(), model.image.state_dict()))

        def fit(self):
            raise _Captured

    monkeypatch.setattr(run_module, "Trainer", Probe)
    for index, losses in enumerate([{"infonce": 1.0}, {"instance": 1.0}, {"cmpc": 1.0}]):
        config = tiny_config(tmp_path / "cache", untrained_baseline=False, stages=[{"epochs": 1, "losses": losses}])
        with pytest.raises(_Captured):
            train_run(config, tiny_registry, tmp_path / f"run{index}", progress=False)
    (rng, weights), *others = captured
    for other_rng, other_weights in others:
        assert torch.equal(other_rng, rng), "a loss's parameters shifted the training random stream"
        assert all(torch.equal(value, weights[key]) for key, value in other_weights.items())


def test_suite_baseline_must_name_a_run(tiny_registry, tmp_path):
    from itr_bench.errors import ConfigError

    data = two_loss_suite(tmp_path / "cache", baseline="instanse")
    with pytest.raises(ConfigError, match="suite.baseline: 'instanse' is not a run of the suite.*instance"):
        expand(data, tiny_registry, "paired.toml", tmp_path / "store")
    planned = expand(two_loss_suite(tmp_path / "cache", baseline="cmpc"), tiny_registry, "p.toml", tmp_path / "s")
    assert {p.baseline for p in planned} == {"cmpc"}
