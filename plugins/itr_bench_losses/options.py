"""Masks and the learnable scale shared by the losses (their options are checked where they are
declared: in each factory's signature)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def same_instance(ids_a: Tensor, ids_b: Tensor) -> Tensor:
    """``(len(a), len(b))`` bool mask: True where the two samples share an instance id."""
    return ids_a[:, None] == ids_b[None, :]


def other_pairs_of_same_instance(ids: Tensor) -> Tensor:
    """Square bool mask of off-diagonal same-id pairs: a second caption of the same image, or
    another sample of the same person, which must not be counted as a negative."""
    mask = same_instance(ids, ids)
    mask.fill_diagonal_(False)
    return mask


def no_pairs(ids: Tensor) -> Tensor:
    """Square all-False mask (the references' behaviour: only the diagonal is positive)."""
    return torch.zeros(len(ids), len(ids), dtype=torch.bool, device=ids.device)


def clamped_scale(logit_scale: Tensor, max_scale: float) -> Tensor:
    """A learnable temperature's scale: ``exp(logit_scale)``, never above ``max_scale``.

    Shared by InfoNCE and SigLIP; open_clip clamps the parameter after each step instead, which
    gives the same forward value (the clamped region has no gradient either way).
    """
    return logit_scale.exp().clamp(max=max_scale)


def register_logit_scale(loss: nn.Module, initial_scale: float, max_scale: float, learnable: bool = True) -> None:
    """Give ``loss`` a temperature learned in log space, as open_clip does: ``logit_scale`` =
    ln(initial_scale), a parameter (a buffer when not ``learnable``: saved, never trained), and
    ``max_scale``, the bound of its :data:`learned_scale`."""
    initial = torch.tensor(math.log(initial_scale))
    if learnable:
        loss.logit_scale = nn.Parameter(initial)
    else:
        loss.register_buffer("logit_scale", initial)
    loss.max_scale = float(max_scale)


#: A loss's ``scale`` property over :func:`register_logit_scale`'s attributes: exp(logit_scale),
#: never above ``max_scale`` (in the class body: ``scale = learned_scale``).
learned_scale = property(lambda loss: clamped_scale(loss.logit_scale, loss.max_scale),
                         doc="exp(logit_scale), never above ``max_scale``.")
