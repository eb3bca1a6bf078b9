"""Cross-Modal Projection Matching (CMPM): KL from projection softmax to the true-match distribution."""

from __future__ import annotations

from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from annotated_types import Gt
from torch import Tensor

from itr_bench.api import Gathering, Inputs, Loss, LossContext, Search

from .options import same_instance


def _l1(mask: Tensor) -> Tensor:
    return mask / mask.sum(dim=1, keepdim=True)


def _l2(mask: Tensor) -> Tensor:
    return mask / mask.norm(dim=1, keepdim=True)


#: How the 0/1 true-match rows become the target q.
NORMALIZATIONS = {"l1": _l1, "l2": _l2}


class CmpmLoss(Loss):
    """``mean_i sum_j p_ij log(p_ij / (q_ij + eps))`` in both directions, p a softmax of projections.

    Reference: Zhang & Lu, ECCV 2018; YingZhangDUT/Cross-Modal-Projection-Learning
    ``modules.py cmpm_loss_compute``: image->text logits are ``image @ normalize(text)^T`` (the
    image is *not* normalised, no temperature), text->image ``text @ normalize(image)^T``; q is
    the same-id mask divided by its row sum (L1). The PyTorch ports (IRRA
    ``objectives.compute_cmpm``, TIPCB ``CMPM.py``) divide by the row's L2 norm instead, so q no
    longer sums to one when a row has several positives; ``normalization="l2"`` gives that.

    The original writes ``p log(1e-8 + p / (q + 1e-8))``, IRRA ``p (log_softmax - log(q + eps))``;
    the second form is used (stable when p underflows); they differ by under 1e-12 here.

    Defaults: ``normalization="l1"`` (the original), ``epsilon=1e-8``. Same-id pairs are
    positives by construction (the ids are CMPM's labels).

    Terms: ``cmpm_i2t`` and ``cmpm_t2i`` (the original returns both; the total is their sum).

    Input: the embedding itself (``Inputs.EMBEDDING``: the scored tensor before L2
    normalisation; no ReLU, no dropout), as the reference feeds it the joint embedding of
    ``modules.py build_joint_embeddings``: a linear 1x1 convolution with ``activation_fn=None``
    and no dropout after it. The projections use its norm, so it is not pre-normalised.

    Data parallel: GATHERED (the softmax runs over the global batch).

    Args:
        normalization: 'l1' (the original: q sums to one) or 'l2' (the PyTorch ports).
        epsilon: added to q inside the logarithm.
    """

    inputs = Inputs.EMBEDDING
    gathering = Gathering.GATHERED
    reduction = "mean"

    def __init__(
        self,
        context: LossContext,
        *,
        normalization: Literal["l1", "l2"] = "l1",
        epsilon: Annotated[float, Gt(0), Search(1e-10, 1e-2, log=True)] = 1e-8,
    ) -> None:
        super().__init__()
        self.normalization = normalization
        self._normalize_target = NORMALIZATIONS[normalization]
        self.epsilon = float(epsilon)

    def compute(self, image: Tensor, text: Tensor, instance_ids: Tensor) -> dict[str, Tensor]:
        target = self._normalize_target(same_instance(instance_ids, instance_ids).to(image.dtype))
        log_target = torch.log(target + self.epsilon)
        image_proj_text = image @ F.normalize(text, dim=1).T
        text_proj_image = text @ F.normalize(image, dim=1).T
        return {
            "cmpm_i2t": self._kl(image_proj_text, log_target),
            "cmpm_t2i": self._kl(text_proj_image, log_target),
        }

    @staticmethod
    def _kl(projections: Tensor, log_target: Tensor) -> Tensor:
        log_p = F.log_softmax(projections, dim=1)
        return (log_p.exp() * (log_p - log_target)).sum(dim=1).mean()
