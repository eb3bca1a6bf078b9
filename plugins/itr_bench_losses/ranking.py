"""The bidirectional hinge ranking loss on cosine similarity: the paper's form and VSE++'s two.

``ranking(context, form=...)`` picks the class from :data:`FORMS`; each class declares its own
behaviour under data parallelism.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import torch
from annotated_types import Ge
from torch import Tensor

from itr_bench.api import BatchLayout, Gathering, Inputs, Loss, LossContext, Search, check_loss_inputs
from itr_bench.errors import ItrBenchError

from .options import no_pairs, other_pairs_of_same_instance

# reduction: RankLoss.m and VSE++ both return a sum; "mean" divides it by the batch size, which is
# what MatConvNet's trainer does to every gradient (so it gives the paper's effective scale next to
# a mean-reduced instance loss).

# The paper's three Stage II builders pass 'rate',1 (margin 1.0). RankLoss.m's class default is
# 0.5, and the Flickr ResNet-50 model the official test script loads is named "margin0.5": the
# official code disagrees with itself; we follow the builders.
PAPER_MARGIN = 1.0


@dataclass(frozen=True)
class CandidatePool:
    """Image-text pairs from outside the batch to mine the paper's hard negatives from.

    The paper draws 256 training captions (with their images) outside the batch and encodes them
    in test mode; pass them without gradients to reproduce that. ``instance_ids`` keep a
    candidate of the anchor's own instance from being chosen.
    """

    image: Tensor
    text: Tensor
    instance_ids: Tensor


def hardest_captions(
    image: Tensor, text: Tensor, instance_ids: Tensor | None = None, candidate_ids: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """For each anchor image ``(A, D)``, the index of the candidate caption ``(C, D)`` most similar
    to it, and whether such a caption exists: one ``(A, C)`` matrix product and a row max, no loop.

    With ``instance_ids`` (the anchors') and ``candidate_ids`` (the captions') a caption of the
    anchor's own instance is never chosen; an anchor whose every candidate shares its id gets
    ``False``.
    """
    sims = image.detach() @ text.detach().T
    if instance_ids is not None and candidate_ids is not None:
        same = instance_ids.to(sims.device)[:, None] == candidate_ids.to(sims.device)[None, :]
        sims = sims.masked_fill(same, float("-inf"))
    best = sims.max(dim=1)
    return best.indices, torch.isfinite(best.values)


def hardest_candidates(
    image: Tensor, pool: CandidatePool, instance_ids: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """:func:`hardest_captions` against a :class:`CandidatePool` (the paper's ``*_shift_hard.m``
    mining); the ``hardest`` negative sampler (:mod:`.negatives`) calls the same function with
    the pool encoded in eval mode, and puts the chosen pairs in the second half of the batch,
    where they are re-encoded with gradients, exactly as the paper trains.
    """
    return hardest_captions(image, pool.text, instance_ids, pool.instance_ids if instance_ids is not None else None)


class _Ranking(Loss):
    """Shared options of the ranking forms."""

    inputs = Inputs.NORMALIZED
    name = "ranking"

    def __init__(
        self,
        context: LossContext,
        *,
        margin: Annotated[float, Ge(0)] = PAPER_MARGIN,
        reduction: Literal["sum", "mean"] = "sum",
        exclude_same_instance: bool = True,
    ) -> None:
        super().__init__()
        self.margin = float(margin)
        self.reduction = reduction
        self.exclude_same_instance = bool(exclude_same_instance)

    def _reduce(self, costs: Tensor, batch: int) -> Tensor:
        total = costs.sum()
        return total / batch if self.reduction == "mean" else total

    def _note_active(self, cost_i2t: Tensor, cost_t2i: Tensor, valid: Tensor | int) -> None:
        """Keep the share of hinges that are active (cost > 0) among the ``valid`` ones, per
        direction, for :meth:`diagnostics`: it tells a margin loss that still learns from one
        whose negatives are all beaten. Tensor operations only (no sync, no random draw)."""
        count = valid.sum().clamp(min=1) if isinstance(valid, Tensor) else max(valid, 1)
        self._active = {"active_hinges_i2t": ((cost_i2t > 0).sum() / count).detach(),
                        "active_hinges_t2i": ((cost_t2i > 0).sum() / count).detach()}

    def diagnostics(self) -> dict[str, Tensor]:
        return dict(getattr(self, "_active", {}))

    def extra_repr(self) -> str:
        return (
            f"margin={self.margin}, reduction={self.reduction!r}, "
            f"exclude_same_instance={self.exclude_same_instance}"
        )


class PaperRankingLoss(_Ranking):
    """The paper's ranking loss: each positive pair against one negative per direction.

    Reference: ``matlab/+dagnn/RankLoss.m`` of layumi/Image-Text-Embedding, with x, y the
    normalised image/text embeddings::

        L = sum_k max(0, m - (x_k.y_k - x_k.y^_k)) + max(0, m - (x_k.y_k - x^_k.y_k))

    Batch layout (RankLoss.m): the first half are the anchor pairs; the pair in slot ``B/2 + k``
    gives the negative text y^_k and negative image x^_k of anchor k. The loss declares
    ``layout = BatchLayout.ANCHORS_THEN_NEGATIVES``, so the engine fills the second half with the
    run's negative sampler (:mod:`.negatives`): the hardest of 256 captions outside the batch
    (``hardest``, Flickr/COCO) or a random pair of another instance (``random``, CUHK-PEDES's
    ``rand_diff_class``); without a sampler the run is refused. Both halves still feed the
    instance loss, each pair with its own instance id.

    Alternatively pass ``candidates=CandidatePool(...)`` when calling the loss: then every pair
    of the batch is an anchor and its negatives are the pool pair whose caption is most similar
    to the anchor image (its image is x^_k), the pool used as given (without gradients when it
    was encoded in test mode, as the paper mined).

    Defaults: ``margin=1.0`` (see PAPER_MARGIN), ``reduction="sum"`` (RankLoss.m; MatConvNet's
    trainer then divides by the batch size: ``"mean"`` reproduces that),
    ``exclude_same_instance=True`` (a negative slot of the anchor's own instance is skipped;
    the paper's samplers never produce one).

    Terms: ``ranking_i2t`` (image anchor vs negative text) and ``ranking_t2i``.

    Data parallel: LOCAL, because the layout belongs to each process's batch (the sampler keeps
    an anchor and its negative in the same shard). With ``reduction="sum"`` the global loss is
    the sum of the shards', so the engine multiplies each process's terms by the world size
    (``itr_bench.engine.distributed.distributed_loss_terms`` does).
    """

    gathering = Gathering.LOCAL
    layout = BatchLayout.ANCHORS_THEN_NEGATIVES

    def forward(
        self, image: Tensor, text: Tensor, instance_ids: Tensor, *, candidates: CandidatePool | None = None
    ) -> dict[str, Tensor]:
        if candidates is None:
            return super().forward(image, text, instance_ids)
        check_loss_inputs(type(self).__name__, image, text, instance_ids)
        check_loss_inputs(
            f"{type(self).__name__} candidates", candidates.image, candidates.text, candidates.instance_ids
        )
        if candidates.image.shape[1] != image.shape[1]:
            raise ItrBenchError(
                f"{type(self).__name__}: candidates have width {candidates.image.shape[1]}, "
                f"the batch {image.shape[1]}"
            )
        index, usable = hardest_candidates(
            image, candidates, instance_ids if self.exclude_same_instance else None
        )
        return self._hinge(image, text, candidates.image[index], candidates.text[index], usable, len(image))

    def compute(self, image: Tensor, text: Tensor, instance_ids: Tensor) -> dict[str, Tensor]:
        batch = image.shape[0]
        if batch % 2:
            raise ItrBenchError(
                f"ranking loss (paper form): the batch holds anchors then their negatives, so its "
                f"size must be even, got {batch}"
            )
        half = batch // 2
        usable = instance_ids[:half] != instance_ids[half:] if self.exclude_same_instance else None
        return self._hinge(image[:half], text[:half], image[half:], text[half:], usable, batch)

    def _hinge(
        self,
        image: Tensor,
        text: Tensor,
        neg_image: Tensor,
        neg_text: Tensor,
        usable: Tensor | None,
        batch: int,
    ) -> dict[str, Tensor]:
        positive_sim = (image * text).sum(dim=1)
        cost_i2t = (self.margin - positive_sim + (image * neg_text).sum(dim=1)).clamp(min=0)
        cost_t2i = (self.margin - positive_sim + (neg_image * text).sum(dim=1)).clamp(min=0)
        if usable is not None:
            cost_i2t = cost_i2t * usable
            cost_t2i = cost_t2i * usable
        self._note_active(cost_i2t, cost_t2i, usable if usable is not None else len(cost_i2t))
        return {"ranking_i2t": self._reduce(cost_i2t, batch), "ranking_t2i": self._reduce(cost_t2i, batch)}


class VseRankingLoss(_Ranking):
    """VSE++'s hinge over in-batch negatives: summed over all of them, or only the hardest.

    Reference: fartashf/vsepp ``model.py`` ``ContrastiveLoss`` (same code in vse_infty and SCAN)::

        S = im @ s.T;  cost_s = clamp(m + S - diag_row);  cost_im = clamp(m + S - diag_col)
        diagonal masked; max_violation: cost_s.max(1), cost_im.max(0);  cost_s.sum() + cost_im.sum()

    Defaults: ``margin=1.0`` as the paper (VSE++ trains with 0.2, its class default is 0),
    ``reduction="sum"`` (the reference; ``"mean"`` divides by the batch size),
    ``exclude_same_instance=True``: off-diagonal pairs with the same instance id (two captions of
    one image) are not negatives. VSE++ masks only the diagonal; ``False`` reproduces it exactly.

    Terms: ``ranking_i2t`` (``cost_s``: image anchors) and ``ranking_t2i`` (``cost_im``).

    Data parallel: GATHERED; features are gathered with gradients and the loss is computed on the
    global batch, which makes it equal to the single-process loss for either reduction.
    """

    gathering = Gathering.GATHERED
    max_violation = False

    def compute(self, image: Tensor, text: Tensor, instance_ids: Tensor) -> dict[str, Tensor]:
        scores = image @ text.T
        diagonal = scores.diagonal()
        cost_i2t = (self.margin + scores - diagonal[:, None]).clamp(min=0)
        cost_t2i = (self.margin + scores - diagonal[None, :]).clamp(min=0)
        same = (
            other_pairs_of_same_instance(instance_ids)
            if self.exclude_same_instance
            else no_pairs(instance_ids)
        )
        not_negative = same | torch.eye(len(scores), dtype=torch.bool, device=scores.device)
        cost_i2t = cost_i2t.masked_fill(not_negative, 0)
        cost_t2i = cost_t2i.masked_fill(not_negative, 0)
        if self.max_violation:
            cost_i2t = cost_i2t.max(dim=1).values
            cost_t2i = cost_t2i.max(dim=0).values
            self._note_active(cost_i2t, cost_t2i, len(cost_i2t))
        else:
            self._note_active(cost_i2t, cost_t2i, (~not_negative).sum())
        batch = image.shape[0]
        return {"ranking_i2t": self._reduce(cost_i2t, batch), "ranking_t2i": self._reduce(cost_t2i, batch)}


class HardestVseRankingLoss(VseRankingLoss):
    """VSE++ with ``max_violation=True``: only the hardest in-batch negative per anchor.

    Same reference, defaults, terms and data-parallel behaviour as :class:`VseRankingLoss`.
    """

    max_violation = True


#: ``form`` option -> class.
FORMS: dict[str, type[_Ranking]] = {
    "paper": PaperRankingLoss,
    "vsepp-sum": VseRankingLoss,
    "vsepp-max": HardestVseRankingLoss,
}


def ranking(
    context: LossContext,
    *,
    form: Literal["paper", "vsepp-sum", "vsepp-max"] = "paper",
    margin: Annotated[float, Ge(0), Search(0.02, 1.0, log=True)] = PAPER_MARGIN,
    reduction: Literal["sum", "mean"] = "sum",
    exclude_same_instance: bool = True,
) -> _Ranking:
    """Build the ranking loss of the given ``form`` (see :data:`FORMS`); the default is the paper's.

    Args:
        form: 'paper' (one sampled negative per anchor), 'vsepp-sum' or 'vsepp-max' (in-batch).
        margin: hinge margin m on cosine similarity (>= 0; the paper's builders use 1.0).
        reduction: 'sum' (RankLoss.m, VSE++) or 'mean' (divided by the batch size).
        exclude_same_instance: never count a pair of the anchor's own instance as its negative.
    """
    return FORMS[form](
        context, margin=margin, reduction=reduction, exclude_same_instance=exclude_same_instance
    )
