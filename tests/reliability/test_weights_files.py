"""A weights file that does not fit its component is refused, naming the keys (issue 30, case 3)."""

from __future__ import annotations

import pytest
import torch
from itr_bench_backbones.timm_image import timm_image_encoder

from itr_bench.api import EncoderContext
from itr_bench.errors import ItrBenchError

MODEL = "test_resnet"


def save(path, state):
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


@pytest.fixture
def trunk_state():
    import timm

    return dict(timm.create_model(MODEL, pretrained=False, num_classes=0).state_dict())


def build(checkpoint, **options):
    return timm_image_encoder(EncoderContext(embed_dim=8), model=MODEL, checkpoint=checkpoint, **options)


def test_keys_that_match_nothing_are_refused(tmp_path):
    path = save(tmp_path / "keys.safetensors", {"nothing.weight": torch.zeros(3)})
    with pytest.raises(ItrBenchError, match=r"keys.safetensors' does not fit timm 'test_resnet': parameters not in "
                                            r"the file: conv1.0.weight, .* \(75 in all\); unused keys: nothing.weight; set partial_checkpoint"):
        build(path)


def test_one_missing_and_one_extra_key_are_named(tmp_path, trunk_state):
    name = next(iter(trunk_state))
    trunk_state.pop(name)
    path = save(tmp_path / "partial.safetensors", {**trunk_state, "extra.weight": torch.zeros(2)})
    with pytest.raises(ItrBenchError, match=rf"parameters not in the file: {name}; unused keys: extra.weight"):
        build(path)


def test_partial_loading_when_asked_is_recorded(tmp_path, trunk_state):
    trunk_state.pop(next(iter(trunk_state)))
    path = save(tmp_path / "partial.safetensors", trunk_state)
    encoder = build(path, partial_checkpoint=True)
    assert encoder.weights.startswith(f"{path} (partial: parameters not in the file: ")


def test_a_fitting_file_loads_its_values(tmp_path, trunk_state):
    state = {k: torch.full_like(v, 0.5) if v.is_floating_point() else v for k, v in trunk_state.items()}
    encoder = build(save(tmp_path / "good.safetensors", state))
    assert encoder.weights == str(tmp_path / "good.safetensors")
    assert all(torch.equal(v, state[k]) for k, v in encoder.trunk.state_dict().items())
