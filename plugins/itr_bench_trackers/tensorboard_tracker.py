"""TensorBoard: event files in ``<run folder>/tensorboard``, read by ``tensorboard --logdir``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from itr_bench.api import FINISHED, TrackedRun, Tracker

#: The run-folder subfolder holding the event files.
FOLDER = "tensorboard"


class TensorBoardTracker(Tracker):
    """TensorBoard event files in the run folder; ``tensorboard --logdir <store>/<suite>`` shows a suite.

    Each call's events are flushed to the file before it returns, so a killed process loses
    nothing it was sent. A resumed run appends a new event file to the same folder that starts
    with TensorBoard's purge marker at its first step (``SummaryWriter(purge_step=...)``): readers
    drop what the killed process wrote from that step on and keep the resumed values, one per step. The config goes to the HParams tab with the test
    metrics; the status and tags are text summaries.
    """

    def start(self, run: TrackedRun, resume_id: str | None, first_step: int) -> str:
        from torch.utils.tensorboard import SummaryWriter

        purge = first_step if resume_id is not None else None
        self.writer = SummaryWriter(log_dir=str(run.folder / FOLDER), purge_step=purge)
        self.last_step = 0
        if resume_id is None:
            self.writer.add_text("tags", "  \n".join(f"{k}: {v}" for k, v in sorted(run.tags.items())))
        return resume_id or f"{run.experiment}/{run.name}"

    def log_scalars(self, step: int, values: Mapping[str, float]) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)
        self.writer.flush()
        self.last_step = max(self.last_step, step)

    def finish(self, status: str, test: Mapping[str, float], hyperparameters: Mapping[str, Any]) -> None:
        from torch.utils.tensorboard.summary import hparams

        if status == FINISHED and hyperparameters:
            for summary in hparams(dict(hyperparameters), dict(test)):
                self.writer.file_writer.add_summary(summary, self.last_step)
        for key, value in test.items():
            self.writer.add_scalar(key, value, self.last_step)
        self.writer.add_text("status", status, self.last_step)
        self.writer.close()
