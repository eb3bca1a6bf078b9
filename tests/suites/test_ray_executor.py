"""The Ray executor on a local Ray instance: one task per run, the same folders and records."""

import json

import pytest
import torch

ray = pytest.importorskip("ray")

from itr_bench.plugins import get_plugin_manager, load_registry  # noqa: E402
from itr_bench.store.record import RECORD  # noqa: E402
from itr_bench.store.state import Policy  # noqa: E402
from itr_bench.suites.executors import execute_local, execute_ray  # noqa: E402
from itr_bench.suites.plan import expand  # noqa: E402

SUITE = {
    "suite": {"name": "ray-mini", "datasets": ["synthetic"], "seeds": [0, 1]},
    "defaults": {
        "image_encoder": "dualpath-image", "image_options": {"backbone": "resnet18", "width": 0.0625},
        "text_encoder": "dualpath-textcnn",
        "text_options": {"width": 0.0625, "blocks": [1, 1, 1, 1], "word2vec": None},
        "dataset_options": {"train": 32, "val": 16, "test": 16, "image_size": 16},
        "image_size": 16, "batch_size": 16, "device": "cpu", "untrained_baseline": False,
    },
    "runs": [{"name": "instance", "stages": [{"epochs": 1, "losses": {"instance": 1.0}}]}],
}


@pytest.mark.slow
def test_ray_tasks_write_the_same_records_as_local_runs(tmp_path):
    registry = load_registry(get_plugin_manager())
    suite = {**SUITE, "defaults": {**SUITE["defaults"], "cache_dir": str(tmp_path / "cache")}}
    via_ray = expand(suite, registry, "ray-mini", tmp_path / "ray")
    local = expand(suite, registry, "ray-mini", tmp_path / "local")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        outcomes = execute_ray(via_ray)
        again = execute_ray(via_ray)  # finished runs are skipped, no task is started
        ray_records = [json.loads((run.folder / RECORD).read_text()) for run in via_ray]
        # a record made under another config is not "finished": with --rerun-changed it retrains
        changed = {**suite, "defaults": {**suite["defaults"], "batch_size": 8}}
        retrained = execute_ray(expand(changed, registry, "ray-mini", tmp_path / "ray")[:1],
                                policy=Policy(rerun_changed=True))
    finally:
        ray.shutdown()
    assert [o.status for o in again] == ["skipped", "skipped"]
    assert [o.status for o in retrained] == ["done"]
    assert sorted(o.status for o in outcomes) == ["done", "done"]
    # a Ray task with num_cpus=1 runs torch on one thread; so does the local reference, since the
    # thread count changes floating-point reduction order and, at this tiny scale, the metrics
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        execute_local(local, registry, progress=False)
    finally:
        torch.set_num_threads(threads)
    for a, b, ray_record in zip(via_ray, local, ray_records):
        local_record = json.loads((b.folder / RECORD).read_text())
        assert ray_record["test"] == pytest.approx(local_record["test"]), a.label
        assert ray_record["suite"] == "ray-mini" and ray_record["seed"] == a.seed
