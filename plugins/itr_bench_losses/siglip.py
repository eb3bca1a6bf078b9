"""SigLIP: an independent sigmoid per image-text pair, with a learnable scale and bias."""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from annotated_types import Gt
from torch import Tensor, nn

from itr_bench.api import Gathering, Inputs, Loss, LossContext, Search

from .options import learned_scale, register_logit_scale, same_instance


class SigLipLoss(Loss):
    """``-sum_ij logsigmoid(z_ij (t x_i.y_j + b)) / B`` with z = +1 for matching pairs, -1 else.

    Reference: Zhai et al. 2023; open_clip ``SigLipLoss`` (``z = 2 eye - 1``). The scale
    t = exp(logit_scale) starts at 10 and the bias b at -10 (open_clip_train ``--siglip``:
    ``init_logit_scale = log 10``, ``init_logit_bias = -10``); t is kept at most ``max_scale``
    = 100, as open_clip's trainer clamps every model's logit_scale to ln 100.

    Defaults: ``scale=10, bias=-10, max_scale=100``, ``same_instance_positive=True``: a pair of
    two different samples with the same instance id is labelled +1 (it is a true match, and
    SigLIP scores each pair on its own). open_clip labels only the diagonal; ``False``
    reproduces it exactly.

    Terms: ``siglip``.

    Data parallel: GATHERED. open_clip exchanges text chunks between neighbours instead; the sum
    over all pairs divided by the global batch is the same quantity.

    Args:
        scale: initial logit scale t (learned; > 0).
        bias: initial logit bias b (learned).
        max_scale: upper bound of t.
        same_instance_positive: label other pairs of the same instance +1 (open_clip: only the diagonal).
    """

    inputs = Inputs.NORMALIZED
    gathering = Gathering.GATHERED
    reduction = "mean"

    def __init__(
        self,
        context: LossContext,
        *,
        scale: Annotated[float, Gt(0), Search(1.0, 100.0, log=True)] = 10.0,
        bias: Annotated[float, Search(-20.0, 0.0)] = -10.0,
        max_scale: Annotated[float, Gt(0)] = 100.0,
        same_instance_positive: bool = True,
    ) -> None:
        super().__init__()
        register_logit_scale(self, float(scale), max_scale)
        self.logit_bias = nn.Parameter(torch.tensor(float(bias)))
        self.same_instance_positive = bool(same_instance_positive)

    scale = learned_scale

    def compute(self, image: Tensor, text: Tensor, instance_ids: Tensor) -> dict[str, Tensor]:
        logits = self.scale * image @ text.T + self.logit_bias
        if self.same_instance_positive:
            matches = same_instance(instance_ids, instance_ids)
        else:
            matches = torch.eye(len(logits), dtype=torch.bool, device=logits.device)
        signs = matches.to(logits.dtype) * 2 - 1
        return {"siglip": -F.logsigmoid(signs * logits).sum() / len(logits)}
