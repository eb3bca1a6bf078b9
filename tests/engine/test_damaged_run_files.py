"""Damaged files of a trained run, read by ``evaluate`` and ``train``: one line naming the file, exit 2.

One small run is trained once; each case copies it, damages one file and runs the real command.
"""

import json
import shutil

import pytest
from safetensors.torch import load_file, save_file

from itr_bench.cli import main
from itr_bench.commands.evaluate import load_model_weights
from itr_bench.errors import ItrBenchError
from itr_bench.store.record import RECORD, UNTRAINED

from .test_cli_train import write_config

DATASET = ["--dataset", "synthetic", "-o", "train=32", "-o", "val=16", "-o", "test=16", "-o", "image_size=16"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    config = write_config(root)
    assert main(["train", str(config), "--out", str(root / "run"), "--no-progress"]) == 0
    return root


@pytest.fixture
def run(trained, tmp_path):
    """A private copy of the trained run folder (the cache it names stays shared)."""
    shutil.copytree(trained / "run", tmp_path / "run")
    return tmp_path / "run"


def reshape_one_tensor(best):
    tensors = load_file(str(best / "tensors.safetensors"))
    key = next(k for k in tensors if k.startswith("model.") and tensors[k].ndim == 2)
    tensors[key] = tensors[key][:, :1].contiguous()
    save_file(tensors, str(best / "tensors.safetensors"))


def drop_model(best):
    data = json.loads((best / "state.json").read_text())
    data["components"].pop("model")
    (best / "state.json").write_text(json.dumps(data))


def config_as_list(best):
    data = json.loads((best / "state.json").read_text())
    data["state"]["config"] = ["not", "a", "table"]
    (best / "state.json").write_text(json.dumps(data))


def bad_config_value(best):
    data = json.loads((best / "state.json").read_text())
    data["state"]["config"]["image_size"] = 100000
    (best / "state.json").write_text(json.dumps(data))


EVALUATE_CASES = {
    "mismatched tensors": (reshape_one_tensor, "best: the checkpoint's tensors do not fit the model its config builds: "
                                               "size mismatch for "),
    "no model tensors": (drop_model, "best: damaged checkpoint: it holds no model tensors"),
    "binary state.json": (lambda b: (b / "state.json").write_bytes(bytes(range(256))), "best: damaged checkpoint"),
    "truncated state.json": (lambda b: (b / "state.json").write_text('{"state": {"ep'), "best: damaged checkpoint"),
    "state.json a list": (lambda b: (b / "state.json").write_text("[]"), "best: damaged checkpoint"),
    "truncated tensors": (lambda b: (b / "tensors.safetensors").write_bytes(b"\x08\x00\x00\x00"), "best: damaged checkpoint"),
    "config not a table": (config_as_list, "best/state.json config: top level: expected a table"),
    "config value out of range": (bad_config_value, "best/state.json config: image_size: must be in [8, 4096], got 100000"),
    "state.json is a folder": (lambda b: ((b / "state.json").unlink(), (b / "state.json").mkdir()),
                               "best: not a checkpoint (missing state.json)"),
}


@pytest.mark.parametrize("case", EVALUATE_CASES)
def test_evaluate_damaged_checkpoint(run, capsys, case):
    damage, fragment = EVALUATE_CASES[case]
    damage(run / "best")
    capsys.readouterr()
    code = main(["evaluate", str(run), *DATASET])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("itr-bench: error: ") and "Traceback" not in err, err
    assert fragment in err and str(run) in err, err


def test_evaluate_the_intact_copy_still_works(run, capsys):
    assert main(["evaluate", str(run), *DATASET, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rsum"] >= 0


def test_load_model_weights_reports_all_mismatches_in_one_line():
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    with pytest.raises(ItrBenchError) as info:
        load_model_weights(model, {"model": {"0.weight": torch.zeros(3, 5)}}, "run/best")
    message = str(info.value)
    assert message.startswith("run/best: the checkpoint's tensors do not fit") and "(and " in message
    assert "\n" not in message


def train_over(trained, tmp_path, content):
    out = tmp_path / "run"
    out.mkdir()
    (out / UNTRAINED).write_bytes(content if isinstance(content, bytes) else content.encode())
    config = write_config(tmp_path)
    shutil.copytree(trained / "cache", tmp_path / "cache")
    return main(["train", str(config), "--out", str(out), "--no-progress"]), out / UNTRAINED


@pytest.mark.parametrize("content", ['{"rsum": 12.5, "i2t', "[1, 2]", b"\xff\xfe\x00\x01"])
def test_train_measures_a_damaged_untrained_json_again(trained, tmp_path, capsys, content):
    """Unreadable, it is a leftover (the store clears it before training) and cheap to recompute."""
    code, path = train_over(trained, tmp_path, content)
    assert code == 0, capsys.readouterr().err
    assert json.loads(path.read_text())["rsum"] >= 0


@pytest.mark.parametrize("content, fragment", [
    ('{"rsum": "high"}', "untrained.json: metrics.rsum: expected a number, got 'high'"),
    ('{"rsum": NaN}', "untrained.json: metrics.rsum: expected a finite number, got nan"),
])
def test_train_refuses_an_untrained_json_with_wrong_values(trained, tmp_path, capsys, content, fragment):
    """Readable but wrong beside a checkpoint to resume from: one line naming the file."""
    out = tmp_path / "run"
    shutil.copytree(trained / "run", out)
    assert (out / "last").is_dir()
    (out / RECORD).unlink()
    path = out / UNTRAINED
    path.write_text(content)
    capsys.readouterr()
    code = main(["train", str(write_config(trained)), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and str(path) in err and fragment in err and "Traceback" not in err, err


def test_prepare_refuses_an_image_size_no_machine_holds(tmp_path, capsys):
    code = main(["prepare", "synthetic", "--image-size", "100000", "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "image size must be in [8, 4096], got 100000" in err, err
    assert not (tmp_path / "cache").exists()


def test_an_allocation_that_fails_is_one_line(monkeypatch, capsys):
    import itr_bench.commands.prepare as prepare_command

    def exhausted(*args, **kwargs):
        raise MemoryError()

    monkeypatch.setattr("itr_bench.data.prepare.prepare", exhausted)
    code = main(["prepare", "synthetic", "--image-size", "4096"])
    err = capsys.readouterr().err
    assert prepare_command is not None
    assert code == 2 and err.count("\n") == 1 and "out of memory" in err and "image_size" in err, err
