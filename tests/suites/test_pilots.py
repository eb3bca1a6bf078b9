"""The committed pilots never looked at test, and their tables are what their records say."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PILOTS = ROOT / "leaderboards" / "pilots"
TABLES = sorted(PILOTS.rglob("validation.md"))


def _validation_table():
    spec = importlib.util.spec_from_file_location("validation_table", ROOT / "benchmarks" / "validation_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_pilot_record_was_scored_on_validation_only():
    records = sorted(PILOTS.rglob("record.json"))
    assert len(records) >= 20
    for path in records:
        record = json.loads(path.read_text())
        assert "test" not in record and "untrained" not in record, path
        assert record["config"]["score_test"] is False and record["val"], path
    assert not list(PILOTS.rglob("*.safetensors")), "pilots keep records, not checkpoints"


@pytest.mark.parametrize("table", TABLES, ids=[str(t.relative_to(PILOTS)) for t in TABLES])
def test_each_validation_table_regenerates_from_its_store(table):
    module = _validation_table()
    assert module.table(module.collect(table.parent / "store")) == table.read_text()


def test_the_table_refuses_a_record_scored_on_test(tmp_path, capsys):
    module = _validation_table()
    source = next(PILOTS.rglob("seed-0/record.json"))
    record = json.loads(source.read_text())
    record["test"] = {"rsum": 1.0}
    (tmp_path / "run" / "seed-0").mkdir(parents=True)
    (tmp_path / "run" / "seed-0" / "record.json").write_text(json.dumps(record))
    assert module.main([str(tmp_path)]) == 2
    assert "scored on test" in capsys.readouterr().err
