"""A whole run end to end on tiny encoders: record, selection, freezing, resume, CLI."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from tiny_models import tiny_config

from itr_bench.engine.checkpoint import load_checkpoint
from itr_bench.engine.run import RECORD, train_run


def test_run_writes_a_complete_record(tmp_path, tiny_registry):
    record = train_run(tiny_config(tmp_path / "cache"), tiny_registry, tmp_path / "run", progress=False)
    on_disk = json.loads((tmp_path / "run" / RECORD).read_text())
    assert on_disk["test"] == record["test"]
    for key in ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "rsum", "i2t_medr", "t2i_meanr"):
        assert 0 <= record["test"][key] <= (600 if key == "rsum" else 100 if "_r" in key and "medr" not in key and "meanr" not in key else 1e9)
    assert record["untrained"] and record["epochs"] == 4 and len(record["history"]) == 4
    assert record["protocol"] == "image-caption" and record["seed"] == 0
    assert record["train_pairs_per_second"] > 0 and record["peak_memory_bytes"] > 0
    assert record["config_hash"] and record["config"]["dataset"] == "synthetic"
    # every term at the first step of each stage: the balance between them as the stage starts
    starts = record["stage_start_terms"]
    assert [s["stage"] for s in starts] == [0, 1]
    assert {"instance_image", "instance_text", "loss"} <= set(starts[0]) and "ranking_i2t" not in starts[0]
    assert {"ranking_i2t", "ranking_t2i", "instance_image", "instance_text"} <= set(starts[1])
    assert starts[1]["loss"] == pytest.approx(sum(v for k, v in starts[1].items()
                                                  if k not in ("stage", "loss", "grad_norm")), rel=1e-5)
    # beside each value, its weighted term's gradient norm on the shared embedding
    assert set(starts[1]["grad_norm"]) == {"ranking_i2t", "ranking_t2i", "instance_image", "instance_text", "loss"}
    assert all(v > 0 for v in starts[1]["grad_norm"].values())
    # the view each loss trained on, and what the encoders' features are
    assert [s["inputs"] for s in record["objective"]] == [{"instance": "features"},
                                                          {"ranking": "normalized", "instance": "features"}]
    assert record["features_view"] == {"image": "embedding", "text": "embedding"}
    assert record["init_digest"]["image"] and record["first_batch_digest"]
    # the test split is scored with the best-on-val weights
    best_epoch = max(range(4), key=lambda e: record["history"][e]["val"]["rsum"])
    assert record["best_epoch"] == best_epoch + 1
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["best", "last", "per_query.npz", "record.json",
                                                                  "train.log", "untrained.json"]


def test_frozen_trunk_does_not_move_in_stage_one(tmp_path, tiny_registry):
    config = tiny_config(tmp_path / "cache", stages=[
        {"epochs": 1, "losses": {"instance": 1.0}, "lr_mult": {"image.trunk": 0.0}}])
    from itr_bench.engine.run import build, seed_everything

    def initial_model():
        seed_everything(config.seed)  # as train_run does before building
        return build(config, tiny_registry, "t", progress=False).model

    train_run(config, tiny_registry, tmp_path / "run", progress=False)
    weights, _ = load_checkpoint(tmp_path / "run" / "last")
    assert torch.equal(weights["model"]["image.conv.weight"], initial_model().image.conv.weight)
    assert not torch.equal(weights["model"]["image.fc.weight"], initial_model().image.fc.weight)


def test_rerun_of_a_finished_run_trains_nothing_more(tmp_path, tiny_registry):
    config = tiny_config(tmp_path / "cache")
    first = train_run(config, tiny_registry, tmp_path / "run", progress=False)
    again = train_run(config, tiny_registry, tmp_path / "run", progress=False)
    assert again["test"] == first["test"] and len(again["history"]) == 4


def test_unknown_loss_option_is_a_config_error(tmp_path, tiny_registry):
    from itr_bench.errors import ConfigError

    config = tiny_config(tmp_path / "cache", loss_options={"ranking": {"margn": 0.2}})
    with pytest.raises(ConfigError, match=r"loss 'ranking' .*margn"):
        train_run(config, tiny_registry, tmp_path / "run", progress=False)


RUN_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {support!r})
    from tiny_models import TinyPlugin, tiny_config
    from itr_bench.engine.run import train_run
    from itr_bench.plugins import get_plugin_manager, load_registry
    import itr_bench.engine.train as train_module

    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(TinyPlugin(), name="tiny")
    slow = float(sys.argv[2])
    if slow:  # give the test time to kill us mid-run
        original = train_module.Trainer._train_epoch
        def slowed(self, *args, **kwargs):
            time.sleep(slow)
            return original(self, *args, **kwargs)
        train_module.Trainer._train_epoch = slowed
    stages = [{{"epochs": 3, "losses": {{"instance": 1.0}}, "lr_mult": {{"image.trunk": 0.0}}}},
              {{"epochs": 3, "losses": {{"ranking": 1.0, "instance": 1.0}}, "lr": 0.05, "grad_clip": 1.0}}]
    config = tiny_config({cache!r}, stages=stages, image_options={{"dim": 16}})
    train_run(config, load_registry(pm), sys.argv[1], progress=False)
""")


def test_kill_9_mid_run_then_resume_gives_the_same_model(tmp_path):
    support = os.path.join(os.path.dirname(os.path.dirname(__file__)), "support")
    script = tmp_path / "run.py"
    script.write_text(RUN_SCRIPT.format(support=support, cache=str(tmp_path / "cache")))
    subprocess.run([sys.executable, str(script), str(tmp_path / "straight"), "0"], check=True)

    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "killed"), "1.0"])
    deadline = time.time() + 120
    while time.time() < deadline:  # kill once a few epochs are checkpointed, mid-way
        last = tmp_path / "killed" / "last" / "state.json"
        if last.exists() and json.loads(last.read_text())["state"]["train"]["global_epoch"] >= 2:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed" / RECORD).exists(), "the run finished before it could be killed"
    subprocess.run([sys.executable, str(script), str(tmp_path / "killed"), "0"], check=True)

    straight = json.loads((tmp_path / "straight" / RECORD).read_text())
    resumed = json.loads((tmp_path / "killed" / RECORD).read_text())
    assert resumed["test"] == straight["test"]
    a, _ = load_checkpoint(tmp_path / "straight" / "last")
    b, _ = load_checkpoint(tmp_path / "killed" / "last")
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key


def test_term_weight_naming_no_term_is_a_config_error(tmp_path, tiny_registry):
    from itr_bench.errors import ConfigError

    config = tiny_config(tmp_path / "cache", stages=[
        {"epochs": 1, "losses": {"instance": 1.0}, "term_weights": {"instance_txt": 0.1}}])
    with pytest.raises(ConfigError, match=r"term_weights.instance_txt: .*did you mean 'instance_text'"):
        train_run(config, tiny_registry, tmp_path / "run", progress=False)


def test_identity_protocol_run_with_identity_batches(tmp_path, tiny_registry):
    config = tiny_config(tmp_path / "cache", dataset="synthetic-identity", sampler="identity",
                         samples_per_identity=4,
                         dataset_options={"train": 16, "val": 6, "test": 6, "image_size": 16},
                         stages=[{"epochs": 1, "losses": {"instance": 1.0, "infonce": 1.0}}])
    record = train_run(config, tiny_registry, tmp_path / "run", progress=False)
    assert record["protocol"] == "identity"
    assert set(record["test"]) == {"t2i_r1", "t2i_r5", "t2i_r10", "t2i_medr", "t2i_meanr", "map", "minp", "rsum",
                                   "t2i_map_r", "t2i_rprec"}
    assert 0 < record["test"]["map"] <= 100 and record["untrained"]["map"] > 0


def test_collapsed_embeddings_are_flagged_and_score_nothing(tmp_path, tiny_registry):
    healthy = train_run(tiny_config(tmp_path / "cache", stages=[{"epochs": 1, "losses": {"ranking": 1.0}}]),
                        tiny_registry, tmp_path / "healthy", progress=False)
    assert healthy["degenerate"] is False and healthy["collapse"]["val"]["image_effective_rank"] > 1.05
    config = tiny_config(tmp_path / "cache", image_encoder="collapsed",
                         stages=[{"epochs": 1, "losses": {"ranking": 1.0}}])
    record = train_run(config, tiny_registry, tmp_path / "run", progress=False)
    assert record["degenerate"] is True
    assert record["collapse"]["test"]["image_duplicate_fraction"] == 1.0 and "rule" in record["collapse"]
    # every image ties for every caption: ties count against the query, so t2i finds nothing
    assert all(record[split][f"t2i_r{k}"] == 0 for split in ("val", "test") for k in (1, 5, 10))
