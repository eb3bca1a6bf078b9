"""Optimiser parameter groups with per-module learning-rate multipliers.

Encoders and losses name their parameter groups (``image.trunk``, ``image.head``, ``text``,
``loss.instance``...). A stage's ``lr_mult`` maps a group *prefix* to a multiplier; the longest
matching prefix wins. A multiplier of 0 freezes the group: its parameters get no gradient and
no weight decay, and the batch-norm layers whose parameters are all frozen stop updating their
running statistics. They still normalise with batch statistics in training mode, as MatConvNet
did in the paper's Stage I (``lr 0 and wd 0, so BN moments are not updated either``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError


def multiplier(group: str, lr_mult: Mapping[str, float]) -> float:
    """The multiplier of the longest prefix of ``group`` (dotted) in ``lr_mult``; 1 if none."""
    parts = group.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in lr_mult:
            return lr_mult[prefix]
    return 1.0


def check_prefixes(lr_mult: Mapping[str, float], groups: Iterable[str], where: str) -> None:
    """Every ``lr_mult`` key must match at least one group (a typo would silently do nothing)."""
    groups = list(groups)
    for prefix in lr_mult:
        if not any(g == prefix or g.startswith(prefix + ".") for g in groups):
            raise ConfigError(f"{where}: lr_mult.{prefix}: matches no parameter group (groups: {', '.join(sorted(groups))})")


@dataclass(frozen=True)
class GroupPlan:
    name: str
    params: list[nn.Parameter]
    lr_mult: float


def effective_multiplier(group: str, lr_mult: Mapping[str, float], defaults: Mapping[str, float]) -> float:
    """A stage's multiplier over the component's defaults (e.g. the text CNN's 1e-3 embedding rate).

    The longest matching prefix of both tables together wins, the stage's on a tie; but a 0 the
    stage sets on any prefix of the group always freezes it (``text = 0`` freezes the embedding
    even though its default is more specific).
    """
    parts = group.split(".")
    if any(lr_mult.get(".".join(parts[:end])) == 0 for end in range(1, len(parts) + 1)):
        return 0.0
    return multiplier(group, {**defaults, **lr_mult})


def plan_groups(
    named_groups: Mapping[str, list[nn.Parameter]],
    lr_mult: Mapping[str, float],
    defaults: Mapping[str, float] | None = None,
) -> list[GroupPlan]:
    """One plan per group, each parameter in exactly one group."""
    seen: set[int] = set()
    plans = []
    for name, params in named_groups.items():
        unique = [p for p in params if id(p) not in seen]
        seen.update(id(p) for p in unique)
        if unique:
            plans.append(GroupPlan(name, unique, effective_multiplier(name, lr_mult, defaults or {})))
    return plans


def build_optimizer(
    plans: list[GroupPlan], name: str, lr: float, weight_decay: float, momentum: float = 0.9, nesterov: bool = True
) -> torch.optim.Optimizer:
    """SGD (Nesterov, as the paper) or AdamW over the trainable groups; frozen ones are left out."""
    groups = [
        {"params": plan.params, "lr": lr * plan.lr_mult, "base_lr": lr * plan.lr_mult,
         "lr_mult": plan.lr_mult, "name": plan.name}
        for plan in plans
        if plan.lr_mult > 0
    ]
    if not groups:
        raise ConfigError("every parameter group is frozen (all lr_mult are 0): nothing to train")
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0,
                               weight_decay=weight_decay)
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)


def apply_freezing(modules: Iterable[nn.Module], plans: list[GroupPlan]) -> list[str]:
    """Set ``requires_grad`` by plan and freeze the running statistics of fully frozen BN layers.

    Returns the names of the frozen groups (for the log). Call again at every stage start: it
    also undoes an earlier stage's freezing.
    """
    frozen = {id(p) for plan in plans if plan.lr_mult == 0 for p in plan.params}
    for plan in plans:
        for p in plan.params:
            p.requires_grad_(id(p) not in frozen)
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, nn.modules.batchnorm._BatchNorm):
                params = [p for p in layer.parameters(recurse=False)]
                is_frozen = bool(params) and all(id(p) in frozen for p in params)
                # momentum 0: running = 1 * running + 0 * batch, i.e. statistics stay as they are
                default = getattr(layer, "_itr_default_momentum", layer.momentum)
                layer._itr_default_momentum = default
                layer.momentum = 0.0 if is_frozen else default
    return [plan.name for plan in plans if plan.lr_mult == 0]


def set_stage_lr(optimizer: torch.optim.Optimizer, factor: float) -> None:
    """Scale every group's base learning rate by ``factor`` (step decay within a stage)."""
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor
