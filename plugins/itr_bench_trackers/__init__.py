"""Built-in plugin: experiment trackers for ``--report-to`` (TensorBoard, MLflow, Weights & Biases).

Written as a third party would write one: each tracker is an :class:`itr_bench.api.Tracker` in
its own module, registered lazily (listing them imports none of the tracking libraries) with the
package it needs, so a missing one is refused at plan time with the pip extra to install.
"""

from __future__ import annotations

import itr_bench
from itr_bench import lazy

#: (name, factory, one-line description, {module: pip requirement}) of every tracker.
TRACKERS = (
    ("tensorboard", lazy(".tensorboard_tracker:TensorBoardTracker", __name__),
     "TensorBoard event files in the run folder (tensorboard --logdir <store>/<suite>)",
     {"tensorboard": "itr-bench[tensorboard]"}),
    ("mlflow", lazy(".mlflow_tracker:MlflowTracker", __name__),
     "MLflow: the suite's experiment in <store>/<suite>/mlflow.db, or MLFLOW_TRACKING_URI when set",
     {"mlflow": "itr-bench[mlflow]", "sqlalchemy": "itr-bench[mlflow]", "alembic": "itr-bench[mlflow]"}),
    ("wandb", lazy(".wandb_tracker:WandbTracker", __name__),
     "Weights & Biases, offline in the run folder unless WANDB_MODE says otherwise (wandb sync uploads)",
     {"wandb": "itr-bench[wandb]"}),
)


@itr_bench.hookimpl
def register_trackers(register):
    for name, factory, description, requires in TRACKERS:
        register(name, factory, description=description, requires=requires)
