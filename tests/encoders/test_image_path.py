"""The paper's image path: timm trunk + fc1/fc1_1 head, test-time features, precision modes."""

from __future__ import annotations

import logging

import pytest
import torch
from itr_bench_backbones import timm_weights
from torch import nn

from itr_bench.api import EncoderContext, EncoderOutput
from itr_bench.errors import ItrBenchError

RESNET50_WITHOUT_FC = 23_508_032  # torchvision/timm ResNet-50 (25,557,032) minus its 2048x1000 fc + bias


def tiny(registry, **context):
    return registry.create(
        "image_encoder", "dualpath-image", EncoderContext(**context), backbone="resnet10t", width=1 / 16
    )


def test_resnet50_trunk_and_paper_head_parameter_counts(registry):
    encoder = registry.create("image_encoder", "dualpath-resnet50", EncoderContext())
    assert encoder.weights == "random"
    assert sum(p.numel() for p in encoder.trunk.parameters()) == RESNET50_WITHOUT_FC
    # fc1 2048->2048 and fc1_1 2048->2048, no bias, each followed by BN (scale + shift).
    assert sum(p.numel() for p in encoder.head.parameters()) == 2 * (2048 * 2048 + 2 * 2048)
    linears = [m for m in encoder.head.modules() if isinstance(m, nn.Linear)]
    norms = [m for m in encoder.head.modules() if isinstance(m, nn.BatchNorm1d)]
    assert [(m.in_features, m.out_features, m.bias) for m in linears] == [(2048, 2048, None)] * 2
    assert [m.eps for m in norms] == [1e-3, 1e-3]
    assert encoder.output_dim == 2048


def test_head_layer_order_and_shapes(registry):
    encoder = registry.create(
        "image_encoder", "dualpath-resnet50", EncoderContext(hints={"dropout": 0.75})
    ).eval()
    trace = []
    for name, module in [("trunk", encoder.trunk), *encoder.head.embed.named_children()]:
        module.register_forward_hook(
            lambda m, i, o, n=name: trace.append((n, type(m).__name__, tuple(o.shape)))
        )
    with torch.no_grad():
        out = encoder(torch.randn(2, 3, 224, 224))
    assert trace == [
        ("trunk", "ResNet", (2, 2048)),
        ("0", "Linear", (2, 2048)),
        ("1", "BatchNorm1d", (2, 2048)),
        ("2", "ReLU", (2, 2048)),
        ("3", "Linear", (2, 2048)),
        ("4", "BatchNorm1d", (2, 2048)),
    ]
    assert encoder.head.classifier_input[1].p == 0.75
    assert torch.equal(out.features, torch.relu(out.embedding)) and (out.embedding < 0).any()


def test_small_configuration_forward_backward_and_groups(registry):
    encoder = registry.create(
        "image_encoder",
        "dualpath-image",
        EncoderContext(embed_dim=40),
        backbone="resnet18",
        width=1 / 16,
        dropout=0.8,
    )
    # width narrows the trunk too: ResNet-18's last stage has 512 / 16 = 32 channels
    assert encoder.trunk.num_features == 32 and encoder.output_dim == 40
    assert encoder.head.classifier_input[1].p == 0.8
    out = encoder(torch.randn(4, 3, 64, 64))
    assert isinstance(out, EncoderOutput) and out.embedding.shape == (4, 40)
    out.features.sum().backward()
    assert all(p.grad is not None for p in encoder.parameters())
    groups = encoder.param_groups()
    trunk = [p for name, params in groups.items() if name.startswith("image.trunk.") for p in params]
    assert set(groups) - {"image.head"} == {"image.trunk.conv1", "image.trunk.filters", "image.trunk.bn_scale",
                                             "image.trunk.bn_shift"}
    assert {id(p) for p in trunk} == {id(p) for p in encoder.trunk.parameters()}
    assert len(trunk) + len(groups["image.head"]) == len(list(encoder.parameters()))


def test_dense_test_feature_matches_forward_at_224_and_flip_is_summed(registry):
    encoder = tiny(registry).eval()
    images = torch.randn(1, 3, 224, 224)
    wide = torch.randn(1, 3, 224, 288)  # no crop: a 1 x 3 pool5 map
    with torch.no_grad():
        assert torch.allclose(encoder.dense_embedding(images), encoder(images).embedding, atol=1e-5)
        maps = torch.nn.functional.avg_pool2d(encoder.trunk.forward_features(wide), 7, stride=1)
        assert maps.shape[-2:] == (1, 3)
        per_position = encoder.head(maps.permute(0, 2, 3, 1).reshape(-1, maps.shape[1])).embedding
        dense = encoder.dense_embedding(wide)
        assert torch.allclose(dense, per_position.sum(0, keepdim=True), atol=1e-4)
        flipped = encoder.dense_embedding(wide.flip(-1))
        assert not torch.allclose(dense, flipped, atol=1e-3)
        assert torch.allclose(encoder.test_time_embedding(wide), dense + flipped, atol=1e-4)


def test_channels_last_and_bf16_autocast(registry):
    encoder = tiny(registry, embed_dim=32).to(memory_format=torch.channels_last)
    images = torch.randn(2, 3, 32, 32).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = encoder(images)
    assert out.embedding.dtype == torch.bfloat16 and torch.isfinite(out.embedding.float()).all()
    out.features.float().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in encoder.parameters() if p.grad is not None)


def test_pretrained_without_cached_weights_is_a_clear_error(registry, monkeypatch):
    monkeypatch.setattr(timm_weights, "find_cached_weights", lambda name, cache_dir=None: None)
    with pytest.raises(
        ItrBenchError, match=r"pretrained weights for timm model 'resnet18' are not in the local cache"
    ):
        registry.create(
            "image_encoder", "dualpath-image", EncoderContext(), backbone="resnet18", pretrained=True
        )


def test_pretrained_loads_the_cached_file(registry, monkeypatch, tmp_path, caplog):
    import timm
    from safetensors.torch import save_file

    reference = timm.create_model("resnet18", num_classes=0)
    weights = tmp_path / "model.safetensors"
    save_file(reference.state_dict(), str(weights))
    monkeypatch.setattr(timm_weights, "find_cached_weights", lambda name, cache_dir=None: weights)
    with caplog.at_level(logging.INFO, logger=timm_weights.__name__):
        encoder = registry.create(
            "image_encoder",
            "dualpath-image",
            EncoderContext(),
            backbone="resnet18",
            pretrained=True,
            width=1 / 16,
            trunk_width=1.0,
        )
    assert encoder.weights == str(weights) and str(weights) in caplog.text
    assert torch.equal(encoder.trunk.conv1.weight, reference.conv1.weight)


def test_unknown_backbone_suggests_names(registry):
    with pytest.raises(ItrBenchError, match="did you mean.*resnet50"):
        registry.create("image_encoder", "dualpath-image", EncoderContext(), backbone="resnet05")


def test_trunk_width_alone_keeps_the_head(registry):
    encoder = registry.create("image_encoder", "dualpath-image", EncoderContext(), backbone="resnet18",
                              width=1 / 8, trunk_width=1.0)
    assert encoder.trunk.num_features == 512 and encoder.output_dim == 256


def test_narrow_trunk_refuses_pretrained_weights(registry):
    from itr_bench.errors import ItrBenchError

    with pytest.raises(ItrBenchError, match="pretrained weights need the full trunk"):
        registry.create("image_encoder", "dualpath-image", EncoderContext(), backbone="resnet18",
                        width=0.5, pretrained=True)
