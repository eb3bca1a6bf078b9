"""The paper's two ways of filling the negative half of a ranking batch.

:class:`~.ranking.PaperRankingLoss` reads anchor k's negative from slot ``B/2 + k``; these
samplers choose that pair (registered as ``hardest`` and ``random``; datasets name theirs in the
``negatives`` hint, a run may override it with ``negatives = ...``).

Official code (layumi/Image-Text-Embedding):

* ``train_flickr_word_Rankloss_shift_hard.m`` / ``train_coco_Rankloss_shift_hard.m``
  (Flickr30k, MSCOCO): 256 captions of training images outside the batch, drawn with replacement,
  each placed at a random start (the shift), are encoded in test mode together with the
  first-half images; for each first-half image the caption with the highest cosine becomes its
  negative text, with the shift it was scored at, and is re-encoded in training mode.
* ``train_cuhk_Rankloss_shift.m`` with ``rand_diff_class2.m`` / ``rand_diff_class3.m``
  (CUHK-PEDES): a random caption and a random image of a different identity.

One deliberate difference: the official batches pair the mined caption with the epoch's own
image in slot ``B/2 + k`` (so that slot's image and caption carry different labels). itr-bench's
losses take one instance id per pair, so the slot holds the mined caption *with its own image*:
the negative text y^_k is exactly the official one; the negative image x^_k is the image of the
mined caption (Flickr/COCO) or of the random pair (CUHK-PEDES) instead of an unrelated image.
Both halves feed the instance loss with their own ids, as the paper's do.
"""

from __future__ import annotations

from typing import Annotated

import torch
from annotated_types import Ge
from torch import Tensor

from itr_bench.api import NegativePool, NegativeSampler, TrainingPairs
from itr_bench.errors import ItrBenchError

from .ranking import hardest_captions

#: The official ``opts.train.candidate = 256``.
PAPER_CANDIDATES = 256
#: Rounds of vectorised redrawing before the rare leftover rows are drawn exactly.
REDRAWS = 8


class HardestNegatives(NegativeSampler):
    """The paper's Flickr/COCO mining: each anchor's hardest of ``candidates`` captions from
    training images outside the batch, scored in eval mode (``*_shift_hard.m``).

    Args:
        candidates: how many training captions outside the batch to mine from (the paper: 256).
    """

    def __init__(self, candidates: Annotated[int, Ge(1)] = PAPER_CANDIDATES) -> None:
        self.candidates = candidates

    def choose(self, anchors: TrainingPairs, pool: NegativePool) -> TrainingPairs:
        outside = torch.ones(len(pool.instance_ids), dtype=torch.float32)
        outside[anchors.images] = 0.0
        if not bool(outside.any()):
            raise ItrBenchError("negative sampler 'hardest': every training image is in the batch; "
                                "nothing is left to mine (lower batch_size)")
        images = torch.multinomial(outside, self.candidates, replacement=True, generator=pool.generator)
        candidates = pool.pairs(images)
        index, _ = hardest_captions(
            pool.anchor_embeddings(),
            pool.text_embeddings(candidates),
            pool.instance_ids[anchors.images],
            pool.instance_ids[candidates.images],
        )
        # an anchor whose every candidate shares its instance keeps one; the loss skips such a slot
        return candidates.take(index.cpu())

    def __repr__(self) -> str:
        return f"HardestNegatives(candidates={self.candidates})"


class RandomNegatives(NegativeSampler):
    """A random training pair of a different instance for each anchor (CUHK-PEDES's
    ``rand_diff_class2/3.m``; for Flickr/COCO, where the instance is the image, a random pair)."""

    def __init__(self) -> None:  # no options (declared here, so they are read without importing torch)
        super().__init__()

    def choose(self, anchors: TrainingPairs, pool: NegativePool) -> TrainingPairs:
        return pool.pairs(other_instance_images(pool.instance_ids, anchors.images, pool.generator))

    def __repr__(self) -> str:
        return "RandomNegatives()"


def other_instance_images(instance_ids: Tensor, anchor_images: Tensor, generator: torch.Generator) -> Tensor:
    """For each anchor image, a uniformly random training image of another instance."""
    anchor_ids = instance_ids[anchor_images]
    images = torch.randint(len(instance_ids), (len(anchor_images),), generator=generator)
    for _ in range(REDRAWS):
        clash = instance_ids[images] == anchor_ids
        if not bool(clash.any()):
            return images
        images[clash] = torch.randint(len(instance_ids), (int(clash.sum()),), generator=generator)
    clash = instance_ids[images] == anchor_ids
    if bool(clash.any()):
        allowed = (instance_ids[None, :] != anchor_ids[clash, None]).float()
        if not bool((allowed.sum(dim=1) > 0).all()):
            raise ItrBenchError("negative sampler 'random': the training split has a single instance, "
                                "so no pair of another instance exists")
        images[clash] = torch.multinomial(allowed, 1, generator=generator).squeeze(1)
    return images

