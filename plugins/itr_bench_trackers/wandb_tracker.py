"""Weights & Biases, offline-first: records stay in the run folder until ``wandb sync`` uploads them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from itr_bench.api import FAILED, FINISHED, TrackedRun, Tracker

#: Process exit codes W&B reads as the run's outcome (0 finished, else failed or crashed).
EXIT_CODES = {FINISHED: 0, FAILED: 1}
#: W&B's longest tag.
TAG_CHARS = 64


class WandbTracker(Tracker):
    """Weights & Biases, offline unless ``WANDB_MODE`` is set: nothing leaves the machine by default.

    The project is the suite, the run is named ``dataset/run/seed-N`` and grouped with its other
    seeds (``dataset/run``); tags are ``loss:...``, ``seed:...``, ``commit:...``. Records go to
    ``<run folder>/wandb/offline-run-*``; ``wandb sync <run folder>/wandb/offline-run-*`` uploads
    them. A resumed run reopens the same W&B run id (``resume="allow"``; offline, each process
    writes its own folder and the sync joins them), and the engine never sends a step twice.
    The config is the run's config; the test metrics go to the summary; a failed run exits with 1.
    """

    def start(self, run: TrackedRun, resume_id: str | None) -> str:
        import wandb

        settings = wandb.Settings(mode=os.environ.get("WANDB_MODE", "offline"), console="off", silent=True,
                                  x_disable_stats=True)
        tags = [f"{key}:{value}"[:TAG_CHARS] for key, value in sorted(run.tags.items())]
        self.run = wandb.init(project=run.experiment, name=run.name, group=run.name.rsplit("/", 1)[0], tags=tags,
                              dir=str(run.folder), id=resume_id, resume="allow" if resume_id else None,
                              reinit="create_new", settings=settings)
        return self.run.id

    def log_scalars(self, step: int, values: Mapping[str, float]) -> None:
        self.run.log(dict(values), step=step)

    def finish(self, status: str, test: Mapping[str, float], hyperparameters: Mapping[str, Any]) -> None:
        if hyperparameters:
            self.run.config.update(dict(hyperparameters), allow_val_change=True)
        if test:
            self.run.summary.update(dict(test))
        self.run.finish(exit_code=EXIT_CODES.get(status, 255))
