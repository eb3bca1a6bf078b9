"""A trained record keeps its budget in steps and pairs: the one the plan announced, whatever
the batch layout."""

from __future__ import annotations

import pytest
from tiny_models import tiny_config

from itr_bench.budget import as_record, planned, recorded
from itr_bench.engine.run import train_run


@pytest.mark.parametrize("ranking", [{"form": "vsepp-sum"}, {"form": "paper"}])
def test_a_record_keeps_the_budget_the_plan_announced(tmp_path, tiny_registry, ranking):
    """The paper form pairs its batches (anchors, then mined negatives): still N/B steps an epoch."""
    config = tiny_config(tmp_path / "cache", loss_options={"ranking": ranking}, negatives="random")
    record = train_run(config, tiny_registry, tmp_path / "run", progress=False)
    train = tiny_registry.create("dataset", "synthetic", None, **config.dataset_options).split("train")
    assert record["budget"] == as_record(planned(config, train))
    assert record["budget"]["stages"] == [{"epochs": 2, "steps": 8, "pairs": 128}] * 2  # 64 images, batch 16
    assert recorded(record) == planned(config, train)
