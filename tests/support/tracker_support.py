"""Tracker tests' support: a short tiny run, and reading back what the built-in trackers stored,
each with the tracker's own reader."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tiny_models import tiny_config


def short_config(cache_dir, **overrides):
    """Two epochs on the tiny encoders with the ranking loss (its hinge diagnostics) and InfoNCE (its
    learnable temperature), so every kind of training scalar is sent."""
    stages = [{"epochs": 2, "losses": {"ranking": 1.0, "infonce": 1.0}, "lr": 0.05}]
    data = {"stages": stages, "loss_options": {"ranking": {"form": "vsepp-sum"}}, **overrides}
    return tiny_config(cache_dir, **data)


def tracker_ids(folder: Path) -> dict[str, str]:
    return json.loads((Path(folder) / "trackers.json").read_text())["ids"]


def tensorboard_scalars(folder: Path, key: str) -> list[tuple[int, float]]:
    """(step, value) of ``key`` in ``<run folder>/tensorboard``, by TensorBoard's EventAccumulator,
    which merges a run's event files (one per process that trained it) by step."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(Path(folder) / "tensorboard"), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return [(event.step, event.value) for event in events.Scalars(key)]


def tensorboard_texts(folder: Path, key: str) -> list[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(Path(folder) / "tensorboard"), size_guidance={"tensors": 0})
    events.Reload()
    return [event.tensor_proto.string_val[0].decode() for event in events.Tensors(f"{key}/text_summary")]


def mlflow_client(root: Path):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{Path(root) / 'mlflow.db'}")


def mlflow_history(root: Path, run_id: str, key: str) -> list[tuple[int, float]]:
    """Every (step, value) MLflow stored for ``key``, repeats included, in step order."""
    history = mlflow_client(root).get_metric_history(run_id, key)
    return sorted((metric.step, metric.value) for metric in history)


def wandb_records(folder: Path) -> list[dict]:
    """Every record of the run's offline ``.wandb`` files, oldest process first, decoded by W&B's own
    reader (``wandb leet inspect --json``, one JSON record per line)."""
    records = []
    for path in sorted(Path(folder).glob("wandb/offline-run-*/run-*.wandb")):
        out = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(path)],
                             capture_output=True, text=True, check=True, timeout=120)
        records += [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return records


def wandb_history(folder: Path, key: str) -> list[tuple[int, float]]:
    """(global step, value) of ``key`` in every history record of the run, repeats included."""
    return [(record["history"]["item"]["global_step"], record["history"]["item"][key])
            for record in wandb_records(folder)
            if record["type"] == "history" and key in record["history"]["item"]]
