"""Weights & Biases, offline-first: records stay in the run folder until ``wandb sync`` uploads them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from itr_bench.api import FAILED, FINISHED, TrackedRun, Tracker

#: Process exit codes W&B reads as the run's outcome (0 finished, else failed or crashed).
EXIT_CODES = {FINISHED: 0, FAILED: 1}
#: W&B's longest tag.
TAG_CHARS = 64
#: How often W&B writes its offline records to disk (what a kill -9 can lose).
FLUSH_SECONDS = 1.0
#: The x-axis of every chart: the engine's global optimizer step.
STEP = "global_step"
#: How long a resume waits for the service process of a killed run to let go of its run id.
RUN_ID_WAIT_SECONDS = 60.0


def init_when_free(wandb: Any, options: dict[str, Any]) -> Any:
    """``wandb.init``, waiting while W&B says the run id is in use: the service process of a run
    killed a moment ago holds it until it notices that its parent is gone."""
    deadline = time.monotonic() + RUN_ID_WAIT_SECONDS
    while True:
        try:
            return wandb.init(**options)
        except Exception as exc:  # W&B's ServerResponseError; its module path changes between versions
            if "in use" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def last_offline_step(files: list[Path]) -> int:
    """The highest history step in W&B offline files, read by W&B's own reader (-1: none)."""
    last = -1
    for path in files:
        out = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(path)], check=False,
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise RuntimeError(f"wandb leet inspect {path} failed: {' '.join(out.stderr.split())[-300:]}")
        for line in out.stdout.splitlines():
            if '"type":"history"' in line:
                last = max(last, int(json.loads(line)["history"]["item"].get(STEP, -1)))
    return last


class WandbTracker(Tracker):
    """Weights & Biases, offline unless ``WANDB_MODE`` is set: nothing leaves the machine by default.

    The project is the suite, the run is named ``dataset/run/seed-N`` and grouped with its other
    seeds (``dataset/run``); tags are ``loss:...``, ``seed:...``, ``commit:...``. Records go to
    ``<run folder>/wandb/offline-run-*``; ``wandb sync <run folder>/wandb/offline-run-*`` uploads
    them. Each call is one committed history row whose x-axis is ``global_step`` (W&B's
    ``define_metric``; W&B would keep a row with an explicit ``step=`` open until a later step
    came, and a kill would lose it), and W&B writes rows to disk every second here
    (``x_transaction_log_flush_interval``; its default is 15 s), so a ``kill -9`` loses at most
    the last second. A resumed run reopens the same W&B run id (``resume="allow"``; offline, each
    process writes its own folder and ``wandb sync`` of both continues one run) and drops the
    steps already stored, as W&B history rows are never replaced. Offline, the stored steps are
    read from the earlier folders with W&B's own reader (``wandb leet inspect --json``); online,
    from the resumed run's summary.
    The config is the run's config; the test metrics go to the summary; a failed run exits with 1.
    """

    def start(self, run: TrackedRun, resume_id: str | None, first_step: int) -> str:
        import wandb

        mode = os.environ.get("WANDB_MODE", "offline")
        earlier = sorted(run.folder.glob("wandb/offline-run-*/run-*.wandb"))
        settings = wandb.Settings(mode=mode, console="off", silent=True, x_disable_stats=True,
                                  x_transaction_log_flush_interval=FLUSH_SECONDS)
        tags = [f"{key}:{value}"[:TAG_CHARS] for key, value in sorted(run.tags.items())]
        options = {"project": run.experiment, "name": run.name, "group": run.name.rsplit("/", 1)[0], "tags": tags,
                   "dir": str(run.folder), "id": resume_id, "resume": "allow" if resume_id else None,
                   "reinit": "create_new", "settings": settings}
        self.run = init_when_free(wandb, options)
        for prefix in ("train", "val", "test"):
            self.run.define_metric(f"{prefix}/*", step_metric=STEP)
        #: steps up to this one are stored already (a resumed run's earlier processes)
        self.stored_through = -1
        if resume_id is not None:
            self.stored_through = (last_offline_step(earlier) if mode == "offline"
                                   else int(self.run.summary.get(STEP, -1)))
        return self.run.id

    def log_scalars(self, step: int, values: Mapping[str, float]) -> None:
        if step > self.stored_through:
            self.run.log({**values, STEP: step})

    def log_eval(self, step: int, epoch: int, metrics: Mapping[str, float]) -> None:
        if step > self.stored_through:  # a row of its own at the same global step as the step's scalars
            self.run.log({**metrics, STEP: step, "epoch": epoch})

    def finish(self, status: str, test: Mapping[str, float], hyperparameters: Mapping[str, Any]) -> None:
        if hyperparameters:
            self.run.config.update(dict(hyperparameters), allow_val_change=True)
        if test:
            self.run.summary.update(dict(test))
        self.run.finish(exit_code=EXIT_CODES.get(status, 255))
