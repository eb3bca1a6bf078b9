"""No code from data files: a planted pickle is never executed, whatever path reads it.

Each case plants a pickle whose ``__reduce__`` would create a marker file, points one entry
point (a CLI command or a config key) at it, and checks the command stops with one line naming
the file while the marker never appears. The control case shows the planted files are live:
unpickled in full, they do create the marker.
"""

import pickle
import shutil
from pathlib import Path

import pytest
import torch
from tiny_toml import DUALPATH, stage, synthetic, write_run

from itr_bench.api import EncoderContext
from itr_bench.cli import main
from itr_bench.errors import ItrBenchError


class Planted:
    """Unpickling this calls ``open(marker, "w")``: a stand-in for ``os.system``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "a planted pickle was executed"


def plant_pickle(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"weight": Planted(marker)}))
    return path


def plant_torch(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"conv1.weight": torch.zeros(1), "evil": Planted(marker)}, path)
    return path


def one_line(capsys, code, *fragments):
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("itr-bench: error: ") and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def train(tmp_path, word2vec="train", **image_options):
    """``itr-bench train`` of the shrunk dual-path encoders whose word vectors (and ``image_options``) name files."""
    config = write_run(tmp_path / "run.toml", tmp_path / "cache", name="planted", encoders=DUALPATH,
                       dataset_options=synthetic(train=16, val=8, test=8), batch_size=8,
                       image_options={**DUALPATH["image_options"], **image_options},
                       text_options={**DUALPATH["text_options"], "word2vec": word2vec},
                       stages=[stage({"instance": 1.0})])
    return main(["train", str(config), "--out", str(tmp_path / "run"), "--no-progress"])


def test_control_the_planted_files_do_run_code_when_fully_unpickled(tmp_path):
    for index, plant in enumerate((plant_pickle, plant_torch)):
        marker = tmp_path / f"marker-{index}"
        path = plant(tmp_path / f"evil-{index}.pt", marker)
        torch.load(path, weights_only=False) if plant is plant_torch else pickle.loads(path.read_bytes())
        assert marker.exists()


@pytest.mark.parametrize("name", ["vectors.kv", "vectors.model", "vectors.pkl", "vectors", "vectors.bin.kv"])
def test_word2vec_pickle_is_refused_before_reading(tmp_path, capsys, marker, name):
    path = plant_pickle(tmp_path / name, marker)
    code = train(tmp_path, word2vec=str(path))
    one_line(capsys, code, str(path), "word vectors are read only from word2vec files")


@pytest.mark.parametrize("name", ["vectors.bin", "vectors.txt", "vectors.vec.gz"])
def test_word2vec_pickle_under_a_word2vec_name_is_not_unpickled(tmp_path, capsys, marker, name):
    path = plant_pickle(tmp_path / name, marker)
    code = train(tmp_path, word2vec=str(path))
    one_line(capsys, code, str(path), "cannot read word vectors")


@pytest.mark.parametrize("plant", [plant_torch, plant_pickle])
def test_image_checkpoint_pickle_is_refused(tmp_path, capsys, marker, plant):
    path = plant(tmp_path / "weights.pth", marker)
    code = train(tmp_path, checkpoint=str(path))
    one_line(capsys, code, str(path), "dualpath-image")


def test_timm_encoder_checkpoint_pickle_is_refused(registry, tmp_path, marker):
    path = plant_torch(tmp_path / "resnet.bin", marker)
    with pytest.raises(ItrBenchError, match="is not a plain weights file and was not loaded"):
        registry.create("image_encoder", "timm", EncoderContext(), model="resnet10t", checkpoint=str(path))


def test_hf_text_folder_with_only_a_pickled_model_is_refused(registry, tmp_path, marker):
    from itr_bench_backbones.minilm import minilm_model_dir

    folder = tmp_path / "model"
    shutil.copytree(minilm_model_dir(), folder, ignore=shutil.ignore_patterns("*.safetensors"))
    plant_torch(folder / "pytorch_model.bin", marker)
    with pytest.raises(ItrBenchError, match="cannot load transformers model"):
        registry.create("text_encoder", "hf-text", EncoderContext(), model=str(folder))


def test_evaluate_a_pickle_given_as_checkpoint(tmp_path, capsys, marker):
    path = plant_torch(tmp_path / "model.pt", marker)
    code = main(["evaluate", str(path), "--dataset", "synthetic"])
    one_line(capsys, code, str(path), "not a checkpoint")


def test_evaluate_a_checkpoint_folder_whose_tensors_are_a_pickle(tmp_path, capsys, marker):
    folder = tmp_path / "run" / "best"
    plant_torch(folder / "tensors.safetensors", marker)
    (folder / "state.json").write_text('{"state": {}, "components": {}}')
    code = main(["evaluate", str(tmp_path / "run"), "--dataset", "synthetic"])
    one_line(capsys, code, str(folder), "damaged checkpoint")


def test_resume_from_a_last_checkpoint_whose_tensors_are_a_pickle(tmp_path, capsys, marker):
    last = tmp_path / "run" / "last"
    plant_torch(last / "tensors.safetensors", marker)
    (last / "state.json").write_text('{"state": {}, "components": {}}')
    code = train(tmp_path)
    one_line(capsys, code, str(last), "damaged checkpoint")


def test_prepared_cache_whose_arrow_file_is_a_pickle(registry, tmp_path, capsys, marker):
    from itr_bench.data.prepare import prepare

    source = registry.create("dataset", "synthetic", None, train=16, val=8, test=8, image_size=16)
    prepared = prepare(source, tmp_path / "cache", 16, progress=False)
    plant_pickle(prepared.path / "train.arrow", marker)
    code = train(tmp_path)
    one_line(capsys, code, str(prepared.path / "train.arrow"), "damaged")


def test_read_weights_reads_plain_weights_in_every_safe_format(tmp_path):
    import numpy as np
    from safetensors.torch import save_file

    from itr_bench.weights import read_weights

    weights = {"conv1.weight": torch.arange(6.0).reshape(2, 3)}
    save_file(weights, str(tmp_path / "w.safetensors"))
    torch.save({"state_dict": weights, "epoch": 3}, tmp_path / "w.pth")
    np.savez(tmp_path / "w.npz", **{k: v.numpy() for k, v in weights.items()})
    assert torch.equal(read_weights(tmp_path / "w.safetensors", "o")["conv1.weight"], weights["conv1.weight"])
    assert torch.equal(read_weights(tmp_path / "w.pth", "o")["state_dict"]["conv1.weight"], weights["conv1.weight"])
    assert np.array_equal(read_weights(tmp_path / "w.npz", "o")["conv1.weight"], weights["conv1.weight"].numpy())
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(ItrBenchError, match=r"o: cannot read weights file .*bad\.safetensors"):
        read_weights(tmp_path / "bad.safetensors", "o")


def test_captions_save_to_disk_folder_whose_arrow_file_is_a_pickle(registry, tmp_path, marker):
    """A Hugging Face ``save_to_disk`` folder is read as Arrow and JSON: a planted pickle is only bytes."""
    import datasets

    from itr_bench.errors import ConfigError

    folder = tmp_path / "saved"
    datasets.Dataset.from_dict({"filepath": ["a.jpg"], "title": ["a dog"]}).save_to_disk(str(folder))
    for arrow in folder.glob("*.arrow"):
        plant_pickle(arrow, marker)
    with pytest.raises(ConfigError, match="cannot load it as a Hugging Face saved dataset"):
        registry.create("dataset", "captions", folder, image_key="filepath", caption_key="title").splits()


def test_the_cache_never_builds_outside_its_folder(registry, tmp_path, monkeypatch):
    from itr_bench.data import prepare as prepare_module

    monkeypatch.setattr(prepare_module, "cache_key", lambda *args: "../../escaped")
    source = registry.create("dataset", "synthetic", None, train=4, val=2, test=2, image_size=16)
    with pytest.raises(ItrBenchError, match="refusing to write outside"):
        prepare_module.prepare(source, tmp_path / "a" / "cache", 16, progress=False)
    assert not (tmp_path / "escaped").exists()
