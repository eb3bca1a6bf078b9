"""Option checks and masks shared by the losses (one clear error instead of a stack trace)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeVar

import torch
from torch import Tensor

from itr_bench.errors import ConfigError

T = TypeVar("T")


def choose(owner: str, option: str, value: str, table: Mapping[str, T]) -> T:
    """``table[value]``, or a one-line error listing the allowed values."""
    try:
        return table[value]
    except (KeyError, TypeError):
        allowed = ", ".join(repr(k) for k in table)
        raise ConfigError(f"{owner}: {option}={value!r} is not one of {allowed}") from None


def positive(owner: str, option: str, value: float, *, allow_zero: bool = False) -> float:
    """``value`` as a float, or a one-line error when it is not (strictly) positive."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{owner}: {option}={value!r} is not a number") from None
    if math.isnan(number) or not (number > 0 or (allow_zero and number == 0)):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{owner}: {option}={value!r} must be {bound}")
    return number


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
