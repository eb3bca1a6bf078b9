"""Circle loss (Sun et al., CVPR 2020) between images and captions, as an itr-bench plugin.

Each image is an anchor against every caption in the batch and each caption against every
image; pairs with the same instance id are positives. Similarities far from their optimum
get larger weights (the "circle" decision boundary), unlike the fixed-weight hinge.
"""

from typing import Annotated

import torch
import torch.nn.functional as F
from annotated_types import Ge, Gt

import itr_bench
from itr_bench.api import Loss, LossContext


class CircleLoss(Loss):
    """Circle loss on the cross-modal cosine similarity matrix, both directions averaged.

    Args:
        margin: relaxation m of the decision boundary (the paper: 0.25).
        gamma: scale of the logits (the paper: 64 for retrieval).
    """

    def __init__(self, context: LossContext, margin: Annotated[float, Ge(0)] = 0.25,
                 gamma: Annotated[float, Gt(0)] = 64.0):
        super().__init__()
        self.margin, self.gamma = margin, gamma

    def compute(self, image, text, instance_ids):
        sim = image @ text.T
        positive = instance_ids[:, None] == instance_ids[None, :]
        return {"circle": (self._one_way(sim, positive) + self._one_way(sim.T, positive.T)) / 2}

    def _one_way(self, sim, positive):
        m, gamma = self.margin, self.gamma
        alpha_p = torch.relu(1 + m - sim).detach()
        alpha_n = torch.relu(sim + m).detach()
        logit_p = -gamma * alpha_p * (sim - (1 - m))
        logit_n = gamma * alpha_n * (sim - m)
        lse_p = torch.logsumexp(logit_p.masked_fill(~positive, float("-inf")), dim=1)
        lse_n = torch.logsumexp(logit_n.masked_fill(positive, float("-inf")), dim=1)
        return F.softplus(lse_p + lse_n).mean()


@itr_bench.hookimpl
def register_losses(register):
    register("circle", CircleLoss)
