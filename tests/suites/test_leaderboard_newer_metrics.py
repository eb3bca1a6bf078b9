"""Metrics declared after records were written (mAP@R, R-Precision): older seeds lack them."""

import json
import math
from pathlib import Path

import pytest

from itr_bench.errors import ItrBenchError
from itr_bench.metrics.declarations import DECLARED
from itr_bench.results.leaderboard import aggregate, load_records, markdown

RECORDS = Path(__file__).resolve().parents[2] / "leaderboards" / "records" / "quickstart" / "synthetic"


def _seed(folder, run, seed, **test):
    """A record as one made before the newer metrics were declared, plus the ``test`` values given
    (the committed records are newer: they have them)."""
    source = json.loads((RECORDS / run / "seed-0" / "record.json").read_text())
    older = {k: v for k, v in source["test"].items() if k not in DECLARED or not DECLARED[k].newer}
    record = {**source, "seed": seed, "test": {**older, **test}}
    (folder / run / f"seed-{seed}").mkdir(parents=True)
    (folder / run / f"seed-{seed}" / "record.json").write_text(json.dumps(record))


def test_a_run_whose_older_seeds_lack_a_newer_metric_shows_no_value_for_it(tmp_path):
    _seed(tmp_path, "ranking-only", 0)  # an old record: no i2t_map_r
    _seed(tmp_path, "ranking-only", 1, i2t_map_r=10.0)
    _seed(tmp_path, "instance-only", 0, i2t_map_r=4.0)
    _seed(tmp_path, "instance-only", 1, i2t_map_r=6.0)
    table = aggregate(load_records(tmp_path)).set_index("run")
    assert math.isnan(table.loc["ranking-only", "i2t_map_r"])  # never the mean of the seeds that have it
    assert table.loc["instance-only", "i2t_map_r"] == pytest.approx(5.0)
    text = markdown(table.reset_index(), "t")
    assert "| ranking-only | 2 |" in text and " - |" in text


def test_an_older_metric_missing_from_one_seed_is_still_refused(tmp_path):
    _seed(tmp_path, "ranking-only", 0)
    _seed(tmp_path, "ranking-only", 1)
    record = tmp_path / "ranking-only" / "seed-1" / "record.json"
    data = json.loads(record.read_text())
    del data["test"]["t2i_r5"]
    record.write_text(json.dumps(data))
    with pytest.raises(ItrBenchError, match="t2i_r5: missing"):
        load_records(tmp_path)
