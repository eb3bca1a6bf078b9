"""Masks and the learnable scale shared by the losses (their options are checked where they are
declared: in each factory's signature)."""

from __future__ import annotations

import torch
from torch import Tensor


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
