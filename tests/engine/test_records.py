"""Records say what ran: augmentations, word vectors and their seed, plugins, environment, train.log;
and the same config and seed give the same record on one machine, apart from the volatile fields."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_models import tiny_config
from tiny_toml import DUALPATH, stage, write_run

from itr_bench.api import EncoderContext, TextEncoder
from itr_bench.engine.provenance import VOLATILE_FIELDS, text_augmentation, without_volatile
from itr_bench.engine.run import train_run
from itr_bench.engine.runlog import LOG
from itr_bench.errors import ItrBenchError
from itr_bench.store.record import RECORD

ROOT = Path(__file__).resolve().parents[2]


def test_record_says_what_ran_and_train_log_tells_it(tmp_path, tiny_registry):
    record = train_run(tiny_config(tmp_path / "cache"), tiny_registry, tmp_path / "run", progress=False)
    # the tiny text encoder does not augment, whatever text_augment (true by default) asks
    assert record["augmentation"]["text"] == "none"
    assert record["augmentation"]["image_train"] == (
        "paper-train: central square; random resized crop 0.8-1 of the area, aspect 3/4-4/3, "
        "no flip (the dataset is not flip-safe); bilinear resampling, batched")  # synthetic names left/right
    assert record["augmentation"]["image_test"] == "test: central square; bilinear resampling, batched"
    # which feeding path ran and why: the tiny split fits any free memory
    assert record["feed"]["path"] == "device" and record["feed"]["reason"].startswith("fits: ")
    assert record["feed"]["bytes"] == 64 * 3 * 16 * 16 <= record["feed"]["limit"]
    assert record["plugins"]["tiny"] == {"distribution": None, "version": None,
                                         "components": ["image_encoder:tiny-image", "text_encoder:tiny-text"]}
    assert record["plugins"]["itr_bench_losses"]["components"] == ["loss:instance", "loss:ranking"]
    assert record["plugins"]["itr_bench_losses"]["distribution"] == "itr-bench"
    env = record["environment"]
    assert env["python"] and env["libraries"]["torch"]
    assert set(env["libraries"]) >= {"torch", "timm", "transformers", "datasets"}
    assert env["cpu"] and env["threads"] == torch.get_num_threads() and env["world_size"] == 1
    assert env["timestamp_utc"].endswith("+00:00")
    lines = (tmp_path / "run" / LOG).read_text().splitlines()
    assert len(lines) == 1 + 1 + 4 + 1 and "starting" in lines[0] and lines[-1].split(" ", 1)[1].startswith("finished")
    assert lines[1].split(" ", 1)[1].startswith("feed: device (fits: ")
    assert "stage 2/2 epoch 2/2: loss " in lines[5] and "pairs/s" in lines[5] and "val rsum" in lines[5]


def test_a_failure_leaves_its_reason_in_train_log(tmp_path, tiny_registry):
    config = tiny_config(tmp_path / "cache", stages=[{"epochs": 1, "losses": {"instance": 1.0}, "lr": 1e12}])
    with pytest.raises(ItrBenchError, match="diverged") as caught:
        train_run(config, tiny_registry, tmp_path / "run", progress=False)
    last = (tmp_path / "run" / LOG).read_text().splitlines()[-1]
    assert last.endswith(f"failed: {type(caught.value).__name__}: {caught.value}")


def test_ctrl_c_while_trackers_start_is_logged_too(tmp_path, tiny_registry, monkeypatch):
    """A run stopped between its first log line and its training (pinning the commit, starting
    trackers: a parallel suite's Ctrl-C can land there) says so in train.log, like one stopped
    mid-epoch."""
    import itr_bench.engine.run as run_module

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "tracked_run", interrupted)
    config = tiny_config(tmp_path / "cache", stages=[{"epochs": 1, "losses": {"instance": 1.0}}])
    with pytest.raises(KeyboardInterrupt):
        train_run(config, tiny_registry, tmp_path / "run", progress=False)
    lines = (tmp_path / "run" / LOG).read_text().splitlines()
    assert "starting" in lines[0] and lines[-1].endswith("failed: interrupted"), lines


class _Shifting(TextEncoder):
    def augment_ids(self, ids, generator=None):
        return ids.roll(1, dims=1)


def test_text_augmentation_is_read_from_the_encoder():
    assert text_augmentation(TextEncoder(), enabled=True) == "none"
    assert text_augmentation(_Shifting(), enabled=True) == "unnamed (_Shifting.augment_ids)"
    assert text_augmentation(_Shifting(), enabled=False).startswith("none")


def test_the_text_cnn_states_its_shift_and_word2vec_seed(registry):
    context = EncoderContext(train_captions=["a dog runs", "a cat sits on a mat"] * 5, seed=7)
    encoder = registry.create("text_encoder", "dualpath-textcnn", context, width=0.0625, blocks=[1, 1, 1, 1],
                              word2vec_min_count=1, word_dim=8)
    assert text_augmentation(encoder, enabled=True) == "shift"
    assert encoder.provenance()["word_vectors"]["word2vec_seed"] == 7  # the run seed, not 0
    other = registry.create("text_encoder", "dualpath-textcnn", context.__class__(
        train_captions=context.train_captions, seed=8), width=0.0625, blocks=[1, 1, 1, 1], word2vec_min_count=1,
        word_dim=8)
    assert not torch.equal(encoder.body.embedding.table.weight, other.body.embedding.table.weight)


def test_volatile_fields_are_few_and_dropped():
    record = {"test": {"rsum": 1.0}, "wall_seconds": 3.0, "environment": {"timestamp_utc": "x", "python": "3"},
              "history": [{"loss": 1.0, "seconds": 2.0, "pairs_per_second": 9.0}]}
    assert without_volatile(record) == {"test": {"rsum": 1.0}, "environment": {"python": "3"},
                                        "history": [{"loss": 1.0}]}
    assert len(VOLATILE_FIELDS) <= 8


def _train_in_a_fresh_process(tmp_path, name, seed, hash_seed):
    config = write_run(tmp_path / f"{name}.toml", tmp_path / "cache", name="records", encoders=DUALPATH, seed=seed,
                       negatives="hardest", stages=[stage({"ranking": 1.0, "instance": 1.0}, 2, lr=0.05)])
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed),
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-m", "itr_bench.cli", "train", str(config), "--out", str(tmp_path / name),
                    "--no-progress"], check=True, env=env, capture_output=True)
    return json.loads((tmp_path / name / RECORD).read_text())


@pytest.mark.slow
def test_same_config_and_seed_give_the_same_record(tmp_path):
    """Two processes (different string-hash seeds), one machine: equal records but for the volatile fields."""
    first = _train_in_a_fresh_process(tmp_path, "a", seed=3, hash_seed=1)
    second = _train_in_a_fresh_process(tmp_path, "b", seed=3, hash_seed=2)
    assert json.dumps(without_volatile(first), sort_keys=True) == json.dumps(without_volatile(second), sort_keys=True)
    assert first["encoders"]["text"]["word_vectors"]["word2vec_seed"] == 3
    assert first["augmentation"]["text"] == "shift"
