"""``record.json`` is defined once (itr_bench/store/record.py): its file names, fields and reader.
Every committed record, old formats included, reads; a field of the wrong type is one line
naming the file and the key, whichever reader meets it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from itr_bench.errors import ItrBenchError
from itr_bench.store.record import FIELDS, RECORD, RunRecord, read_record
from itr_bench.store.state import DAMAGED, inspect_folder

COMMITTED = sorted((Path(__file__).resolve().parents[2] / "leaderboards" / "records").rglob(RECORD))
#: What every record ever written holds.
REQUIRED = RunRecord.__required_keys__


def test_the_committed_records_read_and_use_only_declared_fields():
    assert COMMITTED, "no committed records"
    for path in COMMITTED:
        record = read_record(path, required=tuple(REQUIRED))
        assert set(record) <= FIELDS, f"{path}: undeclared fields {set(record) - FIELDS}"
    assert REQUIRED == {"run", "dataset", "seed", "test", "config"}


def _write(tmp_path, **fields):
    record = {"run": "a", "dataset": "d", "seed": 0, "test": {"rsum": 1.0}, "config": {}, **fields}
    path = tmp_path / RECORD
    path.write_text(json.dumps(record))
    return path


def test_an_old_record_without_the_newer_fields_reads(tmp_path):
    record = read_record(_write(tmp_path), required=tuple(REQUIRED))
    assert "select_metric" not in record and "degenerate" not in record


@pytest.mark.parametrize("field, value, message", [
    ("seed", "0", "seed: expected an integer, got '0'"),
    ("test", {"rsum": "high"}, "test.rsum: expected a number, got 'high'"),
    ("degenerate", "no", "degenerate: expected true or false, got 'no'"),
    ("select_metric", 3, "select_metric: expected a string, got 3"),
    ("run", "../x", "run: "),
    ("config", [], "config: expected a table"),
])
def test_a_field_of_the_wrong_type_names_the_file_and_key(tmp_path, field, value, message):
    path = _write(tmp_path, **{field: value})
    with pytest.raises(ItrBenchError, match=f"^{path}: ") as caught:
        read_record(path)
    assert message in str(caught.value)


def test_a_missing_required_field_is_incomplete(tmp_path):
    path = _write(tmp_path, test=None)
    read_record(path)  # a reader that does not need it reads on
    with pytest.raises(ItrBenchError, match="test: missing .an incomplete record is never counted"):
        read_record(path, required=("test",))


def test_the_store_and_the_leaderboard_read_alike(tmp_path):
    """A record the leaderboard refuses is damaged for the store too, never a finished run."""
    from itr_bench.config import RunConfig, build

    config = build(RunConfig, {"dataset": "d", "image_encoder": "i", "text_encoder": "t",
                               "stages": [{"epochs": 1, "losses": {"l": 1.0}}]}, "x")
    _write(tmp_path, seed="zero", config=config.as_dict())
    state = inspect_folder(tmp_path, config)
    assert state.status == DAMAGED and "seed: expected an integer" in state.reason


def test_every_checked_field_is_a_declared_record_field():
    from itr_bench.store.record import DECLARED_FIELDS

    assert set(DECLARED_FIELDS) <= FIELDS


@pytest.mark.parametrize("field, value, message", [
    ("wall_seconds", float("inf"), "wall_seconds: expected a finite number, got inf"),
    ("run_index", -2, "run_index: -2 is impossible (it must be at least 0)"),
])
def test_limits_come_from_the_declarations(tmp_path, field, value, message):
    path = _write(tmp_path, **{field: value})
    with pytest.raises(ItrBenchError) as caught:
        read_record(path)
    assert message in str(caught.value)
