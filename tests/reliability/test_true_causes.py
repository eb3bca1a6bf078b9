"""Messages name the true cause and the file or key; the user's and plugins' errors are never
called bugs of itr-bench (issue 30, case 10)."""

from __future__ import annotations

import errno
import zipfile

import pytest
import torch
from tiny_models import TinyPlugin

import itr_bench
from itr_bench.api import Loss
from itr_bench.errors import ConfigError, ItrBenchError
from itr_bench.plugins import get_plugin_manager
from itr_bench.weights import read_weights

from .test_mixed_seeds import write_mini_suite


@pytest.mark.parametrize("name, expected", [
    ("meta", r"device 'meta': the meta device holds no data, so nothing can train on it; use 'auto', 'cpu' or 'cuda'"),
    ("cuda:99", r"device 'cuda:99': (no CUDA GPU is available here|this machine has \d+ CUDA GPU\(s\), cuda:0 to)"),
    ("cuda", r"device 'cuda': no CUDA GPU is available here"),
])
def test_a_device_this_machine_lacks_is_a_config_error(name, expected):
    from itr_bench.engine.run import resolve_device

    if name == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match=expected):
        resolve_device(name)


def test_a_missing_device_in_a_suite_is_not_called_a_bug(cli, tmp_path):
    suite = write_mini_suite(tmp_path / "mini.toml", tmp_path / "cache", device="meta")
    code, _, err = cli("run", suite, "--store", tmp_path / "store", "--no-progress")
    assert code == 2 and "failed: synthetic/instance/seed-0: device 'meta': the meta device holds no data" in err
    assert "bug" not in err


class ConstantLoss(Loss):
    """A plugin's loss that ignores the embeddings."""

    def __init__(self, context):
        super().__init__()

    def compute(self, image, text, instance_ids):
        return {"constant": torch.tensor(1.0)}


class ConstantPlugin(TinyPlugin):
    @itr_bench.hookimpl
    def register_losses(self, register):
        register("constant", ConstantLoss)


def test_a_constant_loss_is_named_and_not_called_a_bug(cli, tmp_path, monkeypatch):
    def plugins():
        pm = get_plugin_manager(load_entrypoints=False)
        pm.register(ConstantPlugin(), name="tiny")
        return pm

    monkeypatch.setattr("itr_bench.cli.get_plugin_manager", plugins)
    suite = write_mini_suite(tmp_path / "mini.toml", tmp_path / "cache", loss="constant")
    code, _, err = cli("run", suite, "--store", tmp_path / "store", "--no-progress")
    assert code == 2
    failed = next(line for line in err.splitlines() if line.startswith("failed: synthetic/instance/seed-0: "))
    assert "stage 1 epoch 1 step 1: loss 'constant': its terms (constant) carry no gradient" in failed, err
    assert "a bug" not in err


def test_an_npz_that_is_a_zip_of_text_names_the_file_and_the_format(tmp_path):
    path = tmp_path / "weights.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello\n")
    with pytest.raises(ItrBenchError) as info:
        read_weights(path, "image encoder 'timm'")
    assert str(info.value) == (f"image encoder 'timm': {str(path)!r} is not a NumPy weights archive: its member "
                               "'notes.txt' holds bytes that are not a .npy array (a .npz of weights holds numeric "
                               ".npy arrays, as numpy.savez writes)")


def test_fetch_weights_offline_is_one_quiet_line_saying_no_network(capsys, hub_cache, no_network, tmp_path):
    from itr_bench.cli import main

    code = main(["fetch-weights", "paper-ablation"])
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("itr-bench: error: cannot download 'timm/resnet50.") and ": no network: " in lines[-1]
    assert len(lines) <= 2 and "Retrying" not in err  # "fetching ..." and the error


def test_a_full_cache_disk_names_the_cache_entry(tmp_path, monkeypatch):
    from itr_bench_datasets.synthetic import Synthetic

    import itr_bench.data.prepare as prepare_module
    from itr_bench.errors import describe_os_error

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")  # as Arrow raises it: no file named

    monkeypatch.setattr(prepare_module, "_write_arrow", full)
    with pytest.raises(OSError) as info:
        prepare_module.prepare(Synthetic(train=8, val=4, test=4, image_size=16), tmp_path / "cache", 16, progress=False)
    line = describe_os_error(info.value)
    assert line.startswith(str(tmp_path / "cache") + "/synthetic-") and ": no space left on device" in line
