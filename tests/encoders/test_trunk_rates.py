"""The paper's Stage II trunk rates: MatConvNet's 213 parameter indices mapped onto timm's
ResNet-50, applied through the lr_mult mechanism in paper-ablation, recorded per stage."""

from __future__ import annotations

import pytest
import torch
from itr_bench_dualpath.trunk_rates import PAPER_TRUNK_LR_MULT, trunk_groups
from planted_weights import plant_timm_weights

from itr_bench.api import EncoderContext
from itr_bench.engine.optim import apply_freezing, build_optimizer, plan_groups
from itr_bench.suites.plan import expand, load_suite


@pytest.fixture(scope="module")
def resnet50():
    import timm

    return timm.create_model("resnet50", num_classes=0)


def test_groups_cover_the_213_matconvnet_parameters(resnet50):
    groups = trunk_groups(resnet50)
    assert set(groups) == {"image.trunk.conv1", "image.trunk.filters", "image.trunk.bn_scale", "image.trunk.bn_shift"}
    assert groups["image.trunk.conv1"] == [resnet50.conv1.weight]
    convs, norms = len(groups["image.trunk.filters"]) + 1, len(groups["image.trunk.bn_scale"])
    assert (convs, norms) == (53, 53) and len(groups["image.trunk.bn_shift"]) == 53
    # MatConvNet: 53 filters + conv1's bias + 3 parameters per BN (mult, bias, moments) = 213.
    assert convs + 1 + 3 * norms == 213
    placed = [id(p) for params in groups.values() for p in params]
    assert sorted(placed) == sorted(id(p) for p in resnet50.parameters())


def _multipliers(model, plans):
    by_param = {id(p): plan.lr_mult for plan in plans for p in plan.params}
    return {name: by_param[id(p)] for name, p in model.named_parameters()}


def test_paper_ablation_stage_two_uses_the_paper_trunk_rates(registry, hub_cache, tmp_path):
    plant_timm_weights(hub_cache, "resnet50")
    data, where = load_suite("paper-ablation", registry)
    run = next(r for r in expand(data, registry, where, tmp_path, seeds=[0], only_datasets=["flickr8k"])
               if r.run == "instance-then-ranking")
    config = run.config
    encoder = registry.create("image_encoder", config.image_encoder, EncoderContext(), **config.image_options)
    defaults = registry.get("image_encoder", config.image_encoder).metadata["lr_mult"]
    assert defaults == dict(PAPER_TRUNK_LR_MULT)
    stage1, stage2 = (plan_groups(encoder.param_groups(), stage.lr_mult, defaults) for stage in config.stages)
    rates = _multipliers(encoder, stage2)
    assert rates["trunk.conv1.weight"] == 1e-4  # MatConvNet index 1
    assert rates["trunk.layer1.0.conv1.weight"] == rates["trunk.layer4.2.conv3.weight"] == 0.02  # even: filters
    assert rates["trunk.layer1.0.downsample.0.weight"] == 0.02
    assert rates["trunk.bn1.weight"] == rates["trunk.layer3.1.bn2.weight"] == 0.001  # odd: BN mult
    assert rates["trunk.bn1.bias"] == rates["trunk.layer3.1.bn2.bias"] == 0.02  # even: BN bias
    assert {v for k, v in rates.items() if k.startswith("head.")} == {1.0}
    assert {v for k, v in _multipliers(encoder, stage1).items() if k.startswith("trunk.")} == {0.0}
    optimizer = build_optimizer(stage2, "sgd", 0.1, 1e-4)
    lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
    assert lrs["image.trunk.conv1"] == pytest.approx(1e-5) and lrs["image.trunk.bn_scale"] == pytest.approx(1e-4)


def test_trunk_bn_momentum_is_the_stage_two_rate_and_frozen_in_stage_one(registry):
    encoder = registry.create("image_encoder", "dualpath-image", EncoderContext(), backbone="resnet10t",
                              width=1 / 16, trunk_bn_momentum=0.001)
    trunk_norms = [m for m in encoder.trunk.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert trunk_norms and {m.momentum for m in trunk_norms} == {0.001}
    apply_freezing([encoder], plan_groups(encoder.param_groups(), {"image.trunk": 0.0}))
    assert {m.momentum for m in trunk_norms} == {0.0}
    apply_freezing([encoder], plan_groups(encoder.param_groups(), {}))
    assert {m.momentum for m in trunk_norms} == {0.001}
