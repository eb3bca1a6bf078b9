"""Cross-modal triplet margin loss on cosine similarity, as pytorch-metric-learning computes it."""

from __future__ import annotations

from typing import Annotated, Literal

from annotated_types import Ge
from torch import Tensor

from itr_bench.api import Gathering, Inputs, Loss, LossContext, Search

from .options import same_instance


def _mean_nonzero(hinge: Tensor, valid: Tensor) -> Tensor:
    active = valid & (hinge > 0)
    return (hinge * active).sum() / active.sum().clamp(min=1)  # no active triplet: 0, not NaN


def _mean(hinge: Tensor, valid: Tensor) -> Tensor:
    return (hinge * valid).sum() / valid.sum().clamp(min=1)


def _sum(hinge: Tensor, valid: Tensor) -> Tensor:
    return (hinge * valid).sum()


#: ``reduction`` option -> how the hinges of the valid triplets become one number.
REDUCTIONS = {"mean_nonzero": _mean_nonzero, "mean": _mean, "sum": _sum}


class TripletLoss(Loss):
    """``relu(cos(a, n) - cos(a, p) + margin)`` over all triplets, images anchoring texts and back.

    Reference: pytorch-metric-learning ``TripletMarginLoss(margin=0.05,
    triplets_per_anchor="all", distance=CosineSimilarity())`` called as ``loss(image, ids,
    ref_emb=text, ref_labels=ids)``, plus the same with image and text swapped, each direction
    reduced by PML's default ``AvgNonZeroReducer`` (mean over the triplets with a positive hinge).
    This is the PML style, not VSE's summed hinge (that is ``ranking`` with
    ``form="vsepp-sum"``); the cosine replaces PML's default L2 distance.

    Defaults: ``margin=0.05`` (PML), ``reduction="mean_nonzero"`` (PML's reducer; ``"mean"``
    and ``"sum"`` are offered). Positives of an anchor are every sample of the other modality
    with its instance id (several captions of one image, or one person), negatives every other,
    exactly as PML's labels define them.

    Terms: ``triplet_i2t`` and ``triplet_t2i``, each reduced on its own.

    Data parallel: GATHERED (negatives are the global batch).

    Args:
        margin: hinge margin on cosine similarity (>= 0).
        reduction: 'mean_nonzero' (PML: mean over triplets with a positive hinge), 'mean' or 'sum'.
    """

    inputs = Inputs.NORMALIZED
    gathering = Gathering.GATHERED

    def __init__(
        self,
        context: LossContext,
        *,
        margin: Annotated[float, Ge(0), Search(0.01, 0.5, log=True)] = 0.05,
        reduction: Literal["mean_nonzero", "mean", "sum"] = "mean_nonzero",
    ) -> None:
        super().__init__()
        self.margin = float(margin)
        self.reduction = reduction
        self._reduce = REDUCTIONS[reduction]

    def compute(self, image: Tensor, text: Tensor, instance_ids: Tensor) -> dict[str, Tensor]:
        matches = same_instance(instance_ids, instance_ids)
        return {
            "triplet_i2t": self._direction(image @ text.T, matches),
            "triplet_t2i": self._direction(text @ image.T, matches),
        }

    def _direction(self, sims: Tensor, matches: Tensor) -> Tensor:
        # One row per (anchor, positive) pair against every reference: memory P x B, never B^3.
        anchor, pos = matches.nonzero(as_tuple=True)
        hinge = (sims[anchor] - sims[anchor, pos][:, None] + self.margin).clamp(min=0)
        return self._reduce(hinge, ~matches[anchor])
