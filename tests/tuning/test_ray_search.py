"""``--executor ray``: Ray tasks share one study storage and stop at exactly N trials per run."""

import pytest

ray = pytest.importorskip("ray")

from optuna.trial import TrialState  # noqa: E402

from itr_bench.overrides import Overrides  # noqa: E402
from itr_bench.plugins import get_plugin_manager, load_registry  # noqa: E402
from itr_bench.tuning.execute import search_ray  # noqa: E402
from itr_bench.tuning.plan import TunePlan  # noqa: E402

SUITE = {
    "suite": {"name": "ray-tune", "datasets": ["synthetic"], "seeds": [0]},
    "defaults": {
        "image_encoder": "dualpath-image", "image_options": {"backbone": "resnet18", "width": 0.0625},
        "text_encoder": "dualpath-textcnn",
        "text_options": {"width": 0.0625, "blocks": [1, 1, 1, 1], "word2vec": None},
        "dataset_options": {"train": 32, "val": 16, "test": 16, "image_size": 16},
        "image_size": 16, "batch_size": 16, "device": "cpu",
    },
    "runs": [{"name": "infonce", "stages": [{"epochs": 1, "losses": {"infonce": 1.0}}]}],
    "tune": {"trials": 3, "seed": 100, "space": {"stages.0.lr": {"low": 0.01, "high": 0.1, "log": True}}},
}


@pytest.mark.slow
def test_ray_tasks_share_the_study_and_stop_at_n(tmp_path):
    import optuna

    registry = load_registry(get_plugin_manager())
    suite = {**SUITE, "defaults": {**SUITE["defaults"], "cache_dir": str(tmp_path / "cache")}}
    plan = TunePlan.make(suite, registry, "ray-tune", tmp_path / "runs", trials=None, storage=None, per_dataset={},
                         seeds=None, only_datasets=None, overrides=Overrides())
    plan.open_studies()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        results = search_ray(plan.searches, plan.storage_url, jobs=2)
    finally:
        ray.shutdown()
    assert [r.error for r in results] == [""]
    trials = optuna.load_study(study_name="ray-tune/synthetic/infonce", storage=plan.storage_url).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
