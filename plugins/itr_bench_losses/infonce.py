"""CLIP's symmetric InfoNCE with a learnable temperature."""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from annotated_types import Gt
from torch import Tensor

from itr_bench.api import Gathering, Inputs, Loss, LossContext, Search

from .options import learned_scale, other_pairs_of_same_instance, register_logit_scale


class InfoNCELoss(Loss):
    """Cross-entropy of each image over the batch's texts and of each text over the images.

    Reference: open_clip ``ClipLoss`` (``(CE(s I T^T, arange) + CE(s T I^T, arange)) / 2``); the
    scale s = exp(logit_scale) with logit_scale initialised to ln(1/0.07) (open_clip
    ``model.py``) and kept at most 100 (open_clip clamps the parameter to ln 100 after each step;
    here the forward pass clamps the exponentiated scale, so it never exceeds 100 even between
    steps). pytorch-metric-learning's ``NTXentLoss(temperature)`` with ``ref_emb`` is one
    direction of it.

    Defaults: ``temperature=0.07`` (initial), ``learnable=True`` (IRRA uses a fixed 1/0.02),
    ``max_scale=100``, ``exclude_same_instance=True``: an off-diagonal pair with the same
    instance id (a second caption of the image) is removed from both softmaxes instead of being
    pushed away as a negative. open_clip has no ids; ``False`` reproduces it exactly.

    Terms: ``infonce_i2t`` and ``infonce_t2i``, each half a cross-entropy; their sum is ClipLoss.

    Data parallel: GATHERED (all texts of the global batch are every image's negatives).

    Args:
        temperature: initial temperature (the logit scale starts at 1/temperature).
        learnable: learn the temperature (open_clip) instead of keeping it fixed.
        max_scale: upper bound of the logit scale exp(logit_scale).
        exclude_same_instance: drop other pairs of the same instance from both softmaxes.
    """

    inputs = Inputs.NORMALIZED
    gathering = Gathering.GATHERED
    reduction = "mean"

    def __init__(
        self,
        context: LossContext,
        *,
        temperature: Annotated[float, Gt(0), Search(0.005, 0.5, log=True)] = 0.07,
        learnable: bool = True,
        max_scale: Annotated[float, Gt(0)] = 100.0,
        exclude_same_instance: bool = True,
    ) -> None:
        super().__init__()
        register_logit_scale(self, 1.0 / float(temperature), max_scale, learnable)
        self.exclude_same_instance = bool(exclude_same_instance)

    scale = learned_scale

    def compute(self, image: Tensor, text: Tensor, instance_ids: Tensor) -> dict[str, Tensor]:
        logits = self.scale * image @ text.T
        if self.exclude_same_instance:
            logits = logits.masked_fill(other_pairs_of_same_instance(instance_ids), float("-inf"))
        targets = torch.arange(len(logits), device=logits.device)
        return {
            "infonce_i2t": F.cross_entropy(logits, targets) / 2,
            "infonce_t2i": F.cross_entropy(logits.T, targets) / 2,
        }
