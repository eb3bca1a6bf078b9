"""``itr-bench train`` and ``itr-bench evaluate`` through the real command line, with the built-in
dual-path encoders shrunk to a few thousand parameters."""

import json

import pytest
from tiny_toml import DUALPATH, stage, write_run

from itr_bench.cli import main
from itr_bench.store.record import RECORD


def write_config(tmp_path, lr=0.05, **changes):
    """Two stages of the shrunk dual-path encoders: the instance loss with a frozen image trunk, then
    ranking and instance (``changes``: other run keys, None to leave one out)."""
    fields = {"allow_frozen_random": True, "negatives": "hardest", **changes}
    return write_run(tmp_path / "run.toml", tmp_path / "cache", name="cli-smoke", encoders=DUALPATH,
                     stages=[stage({"instance": 1.0}, lr=lr, lr_mult={"image.trunk": 0.0}),
                             stage({"ranking": 2.0, "instance": 1.0}, lr=lr, term_weights={"instance_text": 0.1})],
                     **fields)


def test_train_then_evaluate_gives_the_recorded_test_metrics(tmp_path, capsys):
    config = write_config(tmp_path)
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("test: rsum ") and "untrained: rsum" in out
    record = json.loads((tmp_path / "run" / RECORD).read_text())
    stage1, stage2 = (stage["lr_groups"] for stage in record["objective"])  # effective multipliers
    assert stage1["image.trunk.filters"] == stage1["image.trunk.bn_scale"] == 0.0 and stage1["image.head"] == 1.0
    assert stage2["image.trunk.filters"] == 1.0 and stage2["text.embedding"] == 1e-3
    assert main(["evaluate", str(tmp_path / "run"), "--dataset", "synthetic", "--json",
                 "-o", "train=32", "-o", "val=16", "-o", "test=16", "-o", "image_size=16"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics == pytest.approx(record["test"])


def test_evaluate_scores_the_runs_own_dataset_and_options_by_default(tmp_path, capsys):
    """The run used 32/16/16 images (not the dataset's default size): evaluate must score that."""
    config = write_config(tmp_path)
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    record = json.loads((tmp_path / "run" / RECORD).read_text())
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run"), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == pytest.approx(record["test"])
    assert "scoring synthetic test (16 images)" in captured.err and '"test": 16' in captured.err
    # -o overrides one option of the run's own dataset, the others stay the run's
    assert main(["evaluate", str(tmp_path / "run"), "--json", "-o", "test=8"]) == 0
    captured = capsys.readouterr()
    assert "(8 images)" in captured.err and '"train": 32' in captured.err


def test_diverging_training_stops_with_a_reason(tmp_path, capsys):
    config = write_config(tmp_path, lr=1e12)
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "run.toml: stage 1 epoch 1 step" in err and "diverged" in err and err.count("\n") == 1


@pytest.mark.parametrize("text, message", [
    ("[run]\ndataset = 'synthetic'\nimage_encoder = 'timm'\ntext_encoder = 'minilm'\n",
     "stages: a run needs at least one stage"),
    ("[run]\ndataset = 'synthetic'\n", "image_encoder: required key is missing"),
    ("[run]\ndataset = 'synthetic'\nimage_encoder = 'timm'\ntext_encoder = 'minilm'\n"
     "[[stages]]\nepochs = 1\nlosses = { infonse = 1.0 }\n",
     "stages[0].losses.infonse: unknown loss 'infonse': did you mean 'infonce'?"),
    ("[run\n", "not valid TOML"),
    ("[runs]\n", "runs: unknown table, did you mean 'run'?"),
])
def test_bad_config_is_one_line_exit_2(tmp_path, capsys, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and message in err and err.count("\n") == 1


def test_missing_config_and_checkpoint(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml: no such file" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "nothing"), "--dataset", "synthetic"]) == 2
    assert "not a checkpoint" in capsys.readouterr().err


@pytest.mark.slow
def test_a_run_loads_planted_weights_offline_and_records_file_and_hash(tmp_path, capsys, hub_cache, no_network):
    import hashlib

    from planted_weights import plant_timm_weights

    planted, _ = plant_timm_weights(hub_cache, "resnet18")
    write_config(tmp_path, allow_frozen_random=None, image_options={
        **DUALPATH["image_options"], "trunk_width": 1.0, "pretrained": True})
    assert main(["train", str(tmp_path / "run.toml"), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    record = json.loads((tmp_path / "run" / RECORD).read_text())
    digest = hashlib.sha256(planted.read_bytes()).hexdigest()
    assert record["weights"]["image.trunk"] == {"file": str(planted), "sha256": digest}
