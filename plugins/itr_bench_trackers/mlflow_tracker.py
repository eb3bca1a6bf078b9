"""MLflow: one experiment per suite, one MLflow run per itr-bench run, resumed by its id."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

from itr_bench.api import FAILED, FINISHED, TrackedRun, Tracker

#: The local store used when ``MLFLOW_TRACKING_URI`` is not set, in the tracked run's root.
DATABASE = "mlflow.db"
#: MLflow's limits: params per batch call, characters of a param value.
PARAMS_PER_CALL, PARAM_CHARS = 100, 6000
STATUS = {FINISHED: "FINISHED", FAILED: "FAILED"}


class MlflowTracker(Tracker):
    """MLflow: ``MLFLOW_TRACKING_URI`` when set, else a local database ``<store>/<suite>/mlflow.db``.

    The experiment is the suite; the MLflow run is named ``dataset/run/seed-N`` and tagged with
    the loss, seed and commit. A resumed run continues the same MLflow run (its id is in the run
    folder). A batch of metrics is stored in MLflow's background thread while training goes on
    (``synchronous=False``: a database commit takes tens of milliseconds) and the next call waits
    for it first, so at most the latest batch is in flight when a process is killed; the steps a
    resumed process retrains and the killed one had stored are not stored again (MLflow keeps
    every value it is given, so repeats are dropped, not replaced). :meth:`finish` logs
    the config as params and the test metrics, then sets the status (a failed run is
    ``FAILED``). ``mlflow ui --backend-store-uri sqlite:///<store>/<suite>/mlflow.db`` shows it.
    """

    def start(self, run: TrackedRun, resume_id: str | None, first_step: int) -> str:
        from mlflow import MlflowClient

        local = "MLFLOW_TRACKING_URI" not in os.environ
        self.client = MlflowClient(tracking_uri=f"sqlite:///{run.root / DATABASE}" if local else None)
        #: after a resume: the first retrained step, and per key the steps from it already stored
        self.replay_from: int | None = first_step if resume_id is not None else None
        self.stored: dict[str, set[int]] = {}
        self.in_flight: Any = None  # the batch being stored in the background
        if resume_id is not None:
            self.run_id = resume_id
            self.client.update_run(resume_id, status="RUNNING")
            return resume_id
        experiment = self._experiment(run, (run.root / "mlartifacts").as_uri() if local else None)
        self.run_id = self.client.create_run(experiment, run_name=run.name, tags=dict(run.tags)).info.run_id
        return self.run_id

    def _experiment(self, run: TrackedRun, artifacts: str | None) -> str:
        """The suite's experiment, made by whichever process of the suite gets there first."""
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(run.experiment)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(run.experiment, artifact_location=artifacts)
        except MlflowException:  # another process of the suite created it meanwhile
            return self.client.get_experiment_by_name(run.experiment).experiment_id

    def log_scalars(self, step: int, values: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        metrics = [Metric(key, value, stamp, step) for key, value in values.items() if self._new(key, step)]
        self._wait()
        if metrics:
            self.in_flight = self.client.log_batch(self.run_id, metrics=metrics, synchronous=False)
        if self.replay_from is not None and len(metrics) == len(values):
            self.replay_from = None  # past what the killed process stored: no more look-ups

    def _wait(self) -> None:
        if self.in_flight is not None:
            self.in_flight.wait()
            self.in_flight = None

    def _new(self, key: str, step: int) -> bool:
        """Whether ``key`` at ``step`` is not stored yet (only looked up while replaying a resume)."""
        if self.replay_from is None or step < self.replay_from:
            return True
        if key not in self.stored:
            history = self.client.get_metric_history(self.run_id, key)
            self.stored[key] = {metric.step for metric in history if metric.step >= self.replay_from}
        return step not in self.stored[key]

    def finish(self, status: str, test: Mapping[str, float], hyperparameters: Mapping[str, Any]) -> None:
        from mlflow.entities import Metric, Param

        self._wait()
        if status == FINISHED:
            params = [Param(key, str(value)[:PARAM_CHARS]) for key, value in hyperparameters.items()]
            for start in range(0, len(params), PARAMS_PER_CALL):
                self.client.log_batch(self.run_id, params=params[start:start + PARAMS_PER_CALL])
            stamp = int(time.time() * 1000)
            self.client.log_batch(self.run_id, metrics=[Metric(k, v, stamp, 0) for k, v in test.items()])
        self.client.set_terminated(self.run_id, STATUS.get(status, "KILLED"))
