"""The paper's sentence shift in training, and its test-time augmentation (``test/extract_pic_feature_word2_plus_52.m``).

Images: the feature of the image plus that of its horizontal flip. Text: the sum of the
features of the sentence placed at every start position where it fits in the L slots. Both
are sums of pre-ReLU BN embeddings; the engine L2-normalises afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from itr_bench.data.text import PAD_ID

Embed = Callable[[Tensor], Tensor]


def flip_sum(embed: Embed, images: Tensor) -> Tensor:
    """``embed(images) + embed(images flipped left-right)``."""
    return embed(images) + embed(torch.flip(images, dims=(-1,)))


def shift_to(ids: Tensor, starts: Tensor) -> Tensor:
    """Left-aligned sentences ``(B, L)`` moved to start at slot ``starts[b]`` (zeros elsewhere)."""
    length = ids.shape[1]
    lengths = (ids != PAD_ID).sum(dim=1, keepdim=True)
    source = torch.arange(length, device=ids.device).unsqueeze(0) - starts.unsqueeze(1)
    valid = (source >= 0) & (source < lengths)
    return torch.where(valid, ids.gather(1, source.clamp(0, length - 1)), torch.full_like(ids, PAD_ID))


def random_shift(ids: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Each sentence moved to a random start among the slots where it fits (the paper's training
    "shift": ``location = randi(L + 1 - len)`` in ``train_*_shift*.m``), uniformly per row.

    Random numbers are drawn on the CPU from ``generator`` (one per row), so a data-parallel
    feed that augments the whole global batch gives every process the same shifts.
    """
    free_slots = (ids.shape[1] - (ids != PAD_ID).sum(dim=1)).cpu()
    starts = (torch.rand(len(ids), generator=generator) * (free_slots + 1)).long().clamp(max=free_slots)
    return shift_to(ids, starts.to(ids.device))


def shift_sum(embed: Embed, ids: Tensor) -> Tensor:
    """Sum of ``embed`` over every start position at which each sentence fits.

    Runs L forward passes of the whole batch (one per start); rows whose sentence does not fit
    at a start are left out of that term. Use in eval mode, so rows stay independent.
    """
    batch, length = ids.shape
    free_slots = length - (ids != PAD_ID).sum(dim=1)  # the last valid start per row
    total: Tensor | None = None
    for start in range(length):
        fits = free_slots >= start
        if not bool(fits.any()):
            break
        starts = torch.full((batch,), start, dtype=torch.long, device=ids.device)
        embedded = embed(shift_to(ids, starts))
        term = embedded * fits.unsqueeze(1).to(embedded.dtype)
        total = term if total is None else total + term
    assert total is not None  # start 0 always fits
    return total
