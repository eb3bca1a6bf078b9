"""Run identity and the record's shape are pinned: refactoring the engine must move neither.

A config's hash labels every record and the store reuses a folder only when configs compare
equal; both are fixed here against literal values and the committed records, so a change that
would relabel runs or orphan their folders fails here first.
"""

import glob
import json
from pathlib import Path

import pytest
from tiny_models import tiny_config

from itr_bench.engine.run import config_hash, train_run
from itr_bench.store.state import comparable

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = sorted(glob.glob(str(ROOT / "leaderboards" / "**" / "record.json"), recursive=True))

#: Every field of a tiny two-stage run's record (scored on test, with an untrained baseline).
RECORD_KEYS = [
    "augmentation", "best_epoch", "budget", "collapse", "config", "config_hash", "data_fingerprint", "dataset",
    "degenerate", "device", "encoders", "environment", "epochs", "features_view", "feed", "first_batch_digest",
    "folds", "git_commit", "history", "image_encoder", "init_digest", "itr_bench_version", "negatives",
    "objective", "peak_memory_bytes", "plugins", "protocol", "run", "seed", "select_metric", "stage_start_terms",
    "test", "text_encoder", "train_pairs_per_second", "train_seconds", "untrained", "val", "wall_seconds",
    "weights", "world_size",
]


def test_config_hash_of_the_tiny_config_is_pinned():
    assert config_hash(tiny_config("/fixed/cache")) == "e18e9e86bdde"
    assert config_hash(tiny_config("/fixed/cache", name="other")) == "e18e9e86bdde"  # the name is not hashed
    assert config_hash(tiny_config("/fixed/cache", seed=1)) != "e18e9e86bdde"


@pytest.mark.skipif(not COMMITTED, reason="no committed records")
def test_every_committed_record_hashes_its_stored_config_to_its_config_hash():
    for path in COMMITTED:
        record = json.loads(Path(path).read_text())
        assert config_hash(record["config"]) == record["config_hash"], path


def test_placement_keys_do_not_change_what_the_store_compares():
    base = tiny_config("/fixed/cache")
    moved = tiny_config("/elsewhere", workers=0, feed_memory_fraction=0.1, name="renamed")
    assert comparable(base) == comparable(moved)
    assert comparable(base) != comparable(tiny_config("/fixed/cache", batch_size=8))


def test_a_tiny_run_record_has_exactly_its_fields(tmp_path, tiny_registry):
    record = train_run(tiny_config(tmp_path / "cache"), tiny_registry, tmp_path / "run", progress=False)
    assert sorted(record) == RECORD_KEYS
    assert record["config_hash"] == config_hash(tiny_config(tmp_path / "cache"))
    assert list(record["collapse"]) == ["rule", "val", "test"]
