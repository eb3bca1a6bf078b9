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
    folder) and the engine never sends a step twice: each batch of metrics is stored before
    :meth:`log_scalars` returns, so what a killed process sent is not lost. :meth:`finish` logs
    the config as params and the test metrics, then sets the status (a failed run is
    ``FAILED``). ``mlflow ui --backend-store-uri sqlite:///<store>/<suite>/mlflow.db`` shows it.
    """

    def start(self, run: TrackedRun, resume_id: str | None) -> str:
        from mlflow import MlflowClient

        local = "MLFLOW_TRACKING_URI" not in os.environ
        self.client = MlflowClient(tracking_uri=f"sqlite:///{run.root / DATABASE}" if local else None)
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
        metrics = [Metric(key, value, stamp, step) for key, value in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, status: str, test: Mapping[str, float], hyperparameters: Mapping[str, Any]) -> None:
        from mlflow.entities import Metric, Param

        if status == FINISHED:
            params = [Param(key, str(value)[:PARAM_CHARS]) for key, value in hyperparameters.items()]
            for start in range(0, len(params), PARAMS_PER_CALL):
                self.client.log_batch(self.run_id, params=params[start:start + PARAMS_PER_CALL])
            stamp = int(time.time() * 1000)
            self.client.log_batch(self.run_id, metrics=[Metric(k, v, stamp, 0) for k, v in test.items()])
        self.client.set_terminated(self.run_id, STATUS.get(status, "KILLED"))
