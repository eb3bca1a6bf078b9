"""A tiny run with each built-in tracker, read back with that tracker's own reader: the scalars are
there at the right steps, with the run's name, tags, config and outcome; and tracking changes
nothing about the run."""

import pytest
import torch
from tracker_support import (
    mlflow_client,
    mlflow_history,
    short_config,
    tensorboard_scalars,
    tensorboard_texts,
    tracker_ids,
    wandb_history,
    wandb_records,
)

from itr_bench.engine.checkpoint import load_checkpoint
from itr_bench.engine.run import train_run
from itr_bench.engine.train import Trainer

pytestmark = pytest.mark.slow  # W&B's service and reader start a process each: about 45 s on 2 cores

#: batch 4 over 64 pairs: 16 steps an epoch, logged every 10 steps and at each epoch's last step
TRAIN_STEPS = [10, 16, 26, 32]
EVAL_STEPS = [16, 32]
TRAIN_KEYS = {"train/loss", "train/ranking_i2t", "train/infonce_t2i", "train/lr/text", "train/lr/loss.infonce",
              "train/grad_norm", "train/param/infonce.logit_scale", "train/ranking.active_hinges_i2t",
              "train/seconds_per_step"}


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """One run followed by every built-in tracker, and the same run untracked."""
    from tiny_models import TinyPlugin

    from itr_bench.plugins import get_plugin_manager, load_registry

    for package in ("tensorboard", "mlflow", "wandb"):
        pytest.importorskip(package)
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(TinyPlugin(), name="tiny")
    registry = load_registry(pm)
    tmp = tmp_path_factory.mktemp("tracked")
    config = short_config(tmp / "cache", batch_size=4)
    record = train_run(config, registry, tmp / "run", progress=False, report_to=["tensorboard", "mlflow", "wandb"])
    plain = train_run(config, registry, tmp / "plain", progress=False)
    return tmp / "run", record, plain, tmp


def test_tracking_changes_neither_the_numbers_nor_the_identity(tracked):
    folder, record, plain, tmp = tracked
    assert record["test"] == plain["test"] and record["history"][-1]["loss"] == plain["history"][-1]["loss"]
    assert record["config_hash"] == plain["config_hash"] and record["config"] == plain["config"]
    a, _ = load_checkpoint(folder / "last")
    b, _ = load_checkpoint(tmp / "plain" / "last")
    assert all(torch.equal(value, b["model"][key]) for key, value in a["model"].items())


def test_tensorboard_has_every_scalar_at_its_step(tracked):
    folder, record, _, _ = tracked
    loss = tensorboard_scalars(folder, "train/loss")
    assert [step for step, _ in loss] == TRAIN_STEPS
    for key in TRAIN_KEYS - {"train/seconds_per_step"}:
        assert [step for step, _ in tensorboard_scalars(folder, key)] == TRAIN_STEPS, key
    assert [step for step, _ in tensorboard_scalars(folder, "val/rsum")] == EVAL_STEPS
    assert [value for _, value in tensorboard_scalars(folder, "val/rsum")] == pytest.approx(
        [epoch["val"]["rsum"] for epoch in record["history"]])
    assert tensorboard_scalars(folder, "val/collapse/image_effective_rank")
    assert tensorboard_scalars(folder, "test/rsum")[0][1] == pytest.approx(record["test"]["rsum"])
    assert tensorboard_texts(folder, "status") == ["finished"]
    # the learnable temperature moves, and each sent value is what the run had at that step
    scale = [value for _, value in tensorboard_scalars(folder, "train/param/infonce.logit_scale")]
    assert len(set(scale)) > 1
    assert 0 <= min(v for _, v in tensorboard_scalars(folder, "train/ranking.active_hinges_i2t")) <= 1


def test_mlflow_groups_the_run_with_its_name_tags_params_and_status(tracked):
    folder, record, _, _ = tracked
    run_id = tracker_ids(folder)["mlflow"]
    run = mlflow_client(folder).get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "synthetic/run/seed-0"
    assert mlflow_client(folder).get_experiment(run.info.experiment_id).name == "itr-bench"
    assert {k: run.data.tags[k] for k in ("loss", "seed", "dataset")} == {"loss": "infonce+ranking", "seed": "0",
                                                                          "dataset": "synthetic"}
    assert run.data.params["batch_size"] == "4" and run.data.params["stages.0.losses.infonce"] == "1.0"
    assert run.data.metrics["test/rsum"] == pytest.approx(record["test"]["rsum"])
    assert [step for step, _ in mlflow_history(folder, run_id, "train/loss")] == TRAIN_STEPS
    assert [step for step, _ in mlflow_history(folder, run_id, "val/rsum")] == EVAL_STEPS
    assert TRAIN_KEYS <= set(run.data.metrics)


def test_wandb_writes_offline_records_with_the_scalars(tracked):
    folder, record, _, _ = tracked
    records = wandb_records(folder)
    header = next(r["run"] for r in records if r["type"] == "run")
    assert header["display_name"] == "synthetic/run/seed-0" and header["run_id"] == tracker_ids(folder)["wandb"]
    assert header["project"] == "itr-bench" and "loss:infonce+ranking" in header["tags"]
    assert next(r for r in records if r["type"] == "telemetry")["telemetry"]["feature"]["offline"] is True
    assert [step for step, _ in wandb_history(folder, "train/loss")] == TRAIN_STEPS
    assert [step for step, _ in wandb_history(folder, "val/rsum")] == EVAL_STEPS
    config = {}
    for r in records:
        if r["type"] == "config":
            config.update(r["config"]["update"])
    assert config["batch_size"] == 4
    summary = {}
    for r in records:
        if r["type"] == "summary":
            summary.update(r["summary"]["update"])
    assert summary["test/rsum"] == pytest.approx(record["test"]["rsum"])
    assert [r["exit"]["exit_code"] for r in records if r["type"] == "exit"] == [0]


def test_a_failed_run_is_marked_failed_in_every_tracker(tmp_path, tiny_registry, monkeypatch, no_network):
    """With this process's network refused (W&B's service process talks to it over a local socket)."""
    for package in ("tensorboard", "mlflow", "wandb"):
        pytest.importorskip(package)

    def broken(self, state):
        raise RuntimeError("validation exploded")

    monkeypatch.setattr(Trainer, "_validate", broken)
    with pytest.raises(RuntimeError, match="exploded"):
        train_run(short_config(tmp_path / "cache"), tiny_registry, tmp_path / "run", progress=False,
                  report_to=["tensorboard", "mlflow", "wandb"])
    folder = tmp_path / "run"
    assert tensorboard_texts(folder, "status") == ["failed"]
    assert mlflow_client(folder).get_run(tracker_ids(folder)["mlflow"]).info.status == "FAILED"
    assert [r["exit"]["exit_code"] for r in wandb_records(folder) if r["type"] == "exit"] == [1]
    assert [step for step, _ in tensorboard_scalars(folder, "train/loss")] == [4]  # what it trained is there
