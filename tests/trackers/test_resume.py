"""``kill -9`` mid-run, then resume: each tracker shows one continuous curve, every step once, with
the values of a run that was never killed; the trackers' runs are the same ones, continued.

The run is killed after epoch 2's checkpoint (step 32) once step 42 was logged, so the resumed
process sends steps 42 and on again and each tracker must keep one value for step 42."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from tracker_support import (
    mlflow_client,
    mlflow_history,
    tensorboard_scalars,
    tracker_ids,
    wandb_history,
    wandb_records,
)

pytestmark = pytest.mark.slow

TRACKERS = ["tensorboard", "mlflow", "wandb"]
#: 16 steps an epoch for 4 epochs, logged every 10 steps and at each epoch's end
STEPS = [10, 16, 26, 32, 42, 48, 58, 64]

RUN_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {support!r})
    from tiny_models import TinyPlugin
    from tracker_support import short_config
    from itr_bench.engine.run import train_run
    from itr_bench.plugins import get_plugin_manager, load_registry
    import itr_bench.engine.tracking as tracking

    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(TinyPlugin(), name="tiny")
    if int(sys.argv[3]):  # stall once that step is logged (saying so), for the test to kill us
        original = tracking.RunTracking.step
        def stalled(self, *args, **kwargs):
            original(self, *args, **kwargs)
            if self._step == int(sys.argv[3]):
                (self.run.folder / "stalled").write_text(str(self._step))
                time.sleep(600)
        tracking.RunTracking.step = stalled
    stages = [{{"epochs": 4, "losses": {{"ranking": 1.0, "infonce": 1.0}}, "lr": 0.05}}]
    config = short_config({cache!r}, batch_size=4, stages=stages)
    train_run(config, load_registry(pm), sys.argv[1], progress=False, report_to=sys.argv[2].split(","))
""")


def test_kill_9_then_resume_gives_one_continuous_curve_per_tracker(tmp_path):
    for package in TRACKERS:
        pytest.importorskip(package)
    support = os.path.join(os.path.dirname(os.path.dirname(__file__)), "support")
    script = tmp_path / "run.py"
    script.write_text(RUN_SCRIPT.format(support=support, cache=str(tmp_path / "cache")))
    # each run gets its own W&B service: one this pytest process started for another test (its address
    # is in WANDB_SERVICE, inherited) would outlive the killed run and keep holding its run id
    env = {key: value for key, value in os.environ.items() if key != "WANDB_SERVICE"}
    subprocess.run([sys.executable, str(script), str(tmp_path / "straight"), "tensorboard", "0"], check=True, env=env)

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(script), str(killed), ",".join(TRACKERS), "42"], env=env)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and not (killed / "stalled").exists():
        time.sleep(0.05)
    assert (killed / "stalled").exists(), "the run never logged step 42"
    while time.time() < deadline and 42 not in [step for step, _ in wandb_history(killed, "train/loss")]:
        time.sleep(0.5)  # W&B writes its records every second: wait for step 42 in its file
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    epochs = json.loads((killed / "last" / "state.json").read_text())["state"]["train"]["global_epoch"]
    assert epochs == 2 and not (killed / "record.json").exists()  # killed after epoch 2's checkpoint (step 32)
    assert 42 in [step for step, _ in wandb_history(killed, "train/loss")]  # so the resume must drop its repeat
    ids = tracker_ids(killed)
    subprocess.run([sys.executable, str(script), str(killed), ",".join(TRACKERS), "0"], check=True, env=env)
    assert tracker_ids(killed) == ids  # the same tracker runs, continued

    expected = tensorboard_scalars(tmp_path / "straight", "train/loss")
    assert [step for step, _ in expected] == STEPS
    curves = {"tensorboard": tensorboard_scalars(killed, "train/loss"),
              "mlflow": mlflow_history(killed, ids["mlflow"], "train/loss"),
              "wandb": wandb_history(killed, "train/loss")}
    for name, curve in curves.items():
        assert [step for step, _ in curve] == STEPS, name  # every step once, none missing
        assert [value for _, value in curve] == pytest.approx([value for _, value in expected], rel=1e-5), name
    assert [step for step, _ in mlflow_history(killed, ids["mlflow"], "val/rsum")] == [16, 32, 48, 64]
    assert mlflow_client(killed).get_run(ids["mlflow"]).info.status == "FINISHED"
    records = wandb_records(killed)
    assert [r["run"].get("resume", False) for r in records if r["type"] == "run"] == [False, True]
    assert len(list(killed.glob("tensorboard/events.out.tfevents.*"))) == 2
