"""Checkpoints: exact round trip of model and optimizer state, no pickle, atomic replacement."""

import json

import pytest
import torch
from torch import nn

from itr_bench.engine.checkpoint import STATE, TENSORS, load_checkpoint, save_checkpoint
from itr_bench.errors import ItrBenchError


def trained_model_and_optimizer():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.randn(8, 4)).pow(2).mean().backward()
        optimizer.step()
    return model, optimizer


def test_round_trip_is_exact(tmp_path):
    model, optimizer = trained_model_and_optimizer()
    state = {"epoch": 3, "stage": 1, "best": {"rsum": 12.5}, "history": [1.0, 0.5]}
    save_checkpoint(tmp_path / "ckpt", {"model": model.state_dict(), "optimizer": optimizer.state_dict()}, state)
    components, loaded_state = load_checkpoint(tmp_path / "ckpt")
    assert loaded_state == state
    for key, value in model.state_dict().items():
        assert torch.equal(components["model"][key], value), key
    fresh, fresh_opt = trained_model_and_optimizer()
    fresh.load_state_dict(components["model"])
    fresh_opt.load_state_dict(components["optimizer"])
    assert fresh_opt.state_dict()["param_groups"] == optimizer.state_dict()["param_groups"]
    for key, value in optimizer.state_dict()["state"].items():
        assert torch.equal(fresh_opt.state_dict()["state"][key]["momentum_buffer"], value["momentum_buffer"])


def test_files_are_safetensors_and_json_only(tmp_path):
    model, _ = trained_model_and_optimizer()
    folder = save_checkpoint(tmp_path / "ckpt", {"model": model.state_dict()}, {"epoch": 1})
    assert sorted(p.name for p in folder.iterdir()) == sorted([TENSORS, STATE])
    json.loads((folder / STATE).read_text())
    raw = (folder / TENSORS).read_bytes()  # safetensors: u64 header length, JSON header, raw data
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    assert "model.0.weight" in header


def test_overwrite_keeps_one_folder_and_no_temporaries(tmp_path):
    for epoch in range(3):
        save_checkpoint(tmp_path / "last", {"x": {"w": torch.full((2,), float(epoch))}}, {"epoch": epoch})
    assert [p.name for p in tmp_path.iterdir()] == ["last"]
    components, state = load_checkpoint(tmp_path / "last")
    assert state["epoch"] == 2 and components["x"]["w"].tolist() == [2.0, 2.0]


def test_interrupted_save_falls_back_to_the_previous_checkpoint(tmp_path):
    save_checkpoint(tmp_path / "last", {"x": {"w": torch.ones(1)}}, {"epoch": 1})
    (tmp_path / "last").rename(tmp_path / ".last.old")  # killed between the two renames
    assert load_checkpoint(tmp_path / "last")[1] == {"epoch": 1}


def test_failed_save_leaves_previous_checkpoint(tmp_path):
    save_checkpoint(tmp_path / "last", {"x": {"w": torch.ones(1)}}, {"epoch": 1})
    with pytest.raises(TypeError, match="cannot store object"):
        save_checkpoint(tmp_path / "last", {"x": {"w": object()}}, {"epoch": 2})
    assert load_checkpoint(tmp_path / "last")[1] == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last"]


def test_missing_and_damaged_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(ItrBenchError, match="not a checkpoint"):
        load_checkpoint(tmp_path / "nothing")
    folder = save_checkpoint(tmp_path / "c", {"x": {"w": torch.ones(1)}}, {})
    (folder / TENSORS).write_bytes(b"garbage")
    with pytest.raises(ItrBenchError, match="damaged checkpoint"):
        load_checkpoint(folder)


def test_shared_tensors_are_stored(tmp_path):
    weight = torch.randn(3, 3)
    save_checkpoint(tmp_path / "c", {"m": {"a": weight, "b": weight, "view": weight[0]}}, {})
    components, _ = load_checkpoint(tmp_path / "c")
    assert torch.equal(components["m"]["a"], components["m"]["b"])
    assert torch.equal(components["m"]["view"], weight[0])
