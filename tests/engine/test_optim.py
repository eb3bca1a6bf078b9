"""Learning-rate multipliers, freezing (with fixed BN statistics) and step decay."""

import pytest
import torch
from torch import nn

from itr_bench.engine.optim import (
    apply_freezing,
    build_optimizer,
    check_prefixes,
    multiplier,
    plan_groups,
    set_stage_lr,
)
from itr_bench.errors import ConfigError


def test_longest_prefix_wins():
    mult = {"image": 0.0, "image.head": 0.5}
    assert multiplier("image.trunk", mult) == 0.0
    assert multiplier("image.head", mult) == 0.5
    assert multiplier("image.head.fc", mult) == 0.5
    assert multiplier("text", mult) == 1.0
    assert multiplier("imagery", {"image": 0.0}) == 1.0  # prefixes are dotted, not textual


def test_unmatched_prefix_is_an_error():
    check_prefixes({"image": 0}, ["image.trunk", "text"], "run.toml")
    with pytest.raises(ConfigError, match="run.toml: lr_mult.imgae: matches no parameter group"):
        check_prefixes({"imgae": 0}, ["image.trunk", "text"], "run.toml")


def make():
    torch.manual_seed(0)
    trunk = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    head = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    text = nn.Linear(3, 4)
    groups = {"image.trunk": list(trunk.parameters()), "image.head": list(head.parameters()),
              "text": list(text.parameters())}
    return trunk, head, text, groups


def test_optimizer_groups_have_scaled_rates_and_skip_frozen():
    trunk, head, text, groups = make()
    plans = plan_groups(groups, {"image.trunk": 0.0, "text": 0.1})
    optimizer = build_optimizer(plans, "sgd", lr=0.1, weight_decay=1e-4)
    assert {g["name"]: g["lr"] for g in optimizer.param_groups} == {"image.head": 0.1, "text": pytest.approx(0.01)}
    assert optimizer.defaults["nesterov"] and optimizer.defaults["momentum"] == 0.9
    set_stage_lr(optimizer, 0.1)
    assert {g["name"]: g["lr"] for g in optimizer.param_groups} == {
        "image.head": pytest.approx(0.01), "text": pytest.approx(0.001)}


def test_all_frozen_is_an_error():
    *_, groups = make()
    with pytest.raises(ConfigError, match="nothing to train"):
        build_optimizer(plan_groups(groups, {"image": 0, "text": 0}), "sgd", 0.1, 0.0)


def test_frozen_group_keeps_weights_and_bn_statistics_but_uses_batch_statistics():
    trunk, head, text, groups = make()
    model = nn.Sequential(trunk, head)
    plans = plan_groups(groups, {"image.trunk": 0.0})
    frozen = apply_freezing([model, text], plans)
    assert frozen == ["image.trunk"]
    optimizer = build_optimizer(plans, "sgd", lr=0.5, weight_decay=1e-2)
    before = {k: v.clone() for k, v in trunk.state_dict().items()}
    head_bn_before = head[1].running_mean.clone()
    model.train()
    for _ in range(3):
        optimizer.zero_grad()
        (model(torch.randn(16, 3) * 3 + 1).pow(2).mean() + text(torch.randn(2, 3)).sum()).backward()
        optimizer.step()
    for key, value in trunk.state_dict().items():
        if key != "1.num_batches_tracked":
            assert torch.equal(value, before[key]), key
    assert not torch.equal(head[1].running_mean, head_bn_before)  # trainable BN still tracks
    # train mode still normalises with batch statistics in the frozen BN
    x = torch.randn(16, 3) * 5 + 3
    out = trunk(x)
    assert out.mean(0).abs().max() < 1e-4


def test_unfreezing_in_a_later_stage_restores_everything():
    trunk, head, text, groups = make()
    default = trunk[1].momentum
    apply_freezing([trunk, head, text], plan_groups(groups, {"image": 0}))
    assert trunk[1].momentum == 0 and not trunk[0].weight.requires_grad
    apply_freezing([trunk, head, text], plan_groups(groups, {}))
    assert trunk[1].momentum == default and trunk[0].weight.requires_grad


def test_component_defaults_under_stage_multipliers():
    from itr_bench.engine.optim import effective_multiplier

    defaults = {"text.embedding": 1e-3}
    assert effective_multiplier("text.embedding", {}, defaults) == 1e-3
    assert effective_multiplier("text.body", {}, defaults) == 1.0
    assert effective_multiplier("text.embedding", {"text.embedding": 0.5}, defaults) == 0.5  # stage wins a tie
    assert effective_multiplier("text.embedding", {"text": 0.0}, defaults) == 0.0  # a stage's 0 always freezes
    assert effective_multiplier("text.embedding", {"text": 2.0}, defaults) == 1e-3  # more specific default wins
