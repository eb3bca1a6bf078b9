"""The best validation epoch is chosen by the run's ``select_metric``, which way its declaration says."""

import pytest
from tiny_models import tiny_config

from itr_bench.engine.run import train_run
from itr_bench.store.record import FIELDS, RECORD, RunRecord, read_record


@pytest.mark.parametrize("metric", ["i2t_r1", "t2i_meanr"])
def test_the_select_metric_chooses_the_epoch_its_way_and_is_recorded(tmp_path, tiny_registry, metric):
    # data seed 1: the negative controls at the end hold for both metrics on it
    config = tiny_config(tmp_path / "cache", select_metric=metric, untrained_baseline=False,
                         dataset_options={"train": 64, "val": 24, "test": 24, "image_size": 16, "seed": 1})
    record = train_run(config, tiny_registry, tmp_path / "run", progress=False)
    val = [epoch["val"] for epoch in record["history"]]
    first_best = lambda sign: min(range(len(val)), key=lambda i: (sign * val[i][metric], i)) + 1  # noqa: E731
    lower_is_better = metric.endswith("meanr")
    chosen, opposite = (first_best(1), first_best(-1)) if lower_is_better else (first_best(-1), first_best(1))
    by_rsum = min(range(len(val)), key=lambda i: (-val[i]["rsum"], i)) + 1
    assert record["select_metric"] == metric and record["best_epoch"] == chosen
    assert record["val"] == val[chosen - 1]
    # the engine writes the one record definition: declared fields only, the required ones present
    assert set(record) <= FIELDS and RunRecord.__required_keys__ <= set(record)
    assert read_record(tmp_path / "run" / RECORD)["select_metric"] == metric
    # negative controls: on this seed the default (rSum) or the wrong direction picks another epoch
    assert by_rsum != chosen if not lower_is_better else opposite != chosen
