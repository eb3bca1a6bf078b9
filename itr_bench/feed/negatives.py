"""Paired batches: the negative half chosen by a negative sampler, scored by the model itself.

A loss that declares ``layout = BatchLayout.ANCHORS_THEN_NEGATIVES`` reads anchor k's negative
from slot ``B/2 + k``. For the stages with such a loss the feed keeps the first ``B/2`` pairs of
each batch of the epoch as anchors (an epoch has ``N/B`` batches whatever the layout, as in the
official code; :mod:`itr_bench.feed.feeding`) and asks the run's
:class:`~itr_bench.api.NegativeSampler` for one pair per anchor. The sampler may score
candidates with the model (:class:`BatchPool` embeds them in eval mode without gradients, in
chunks); the chosen pairs then go through the ordinary training forward with gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..api import BatchLayout, Loss, NegativeSampler, TrainingPairs, as_encoder_output

#: Candidates are encoded this many at a time (one forward per chunk, never one per anchor).
CHUNK = 256


def needs_negatives(losses: Iterable[Loss]) -> bool:
    """Whether any of ``losses`` reads its negatives from the second half of the batch."""
    return any(BatchLayout(loss.layout) is BatchLayout.ANCHORS_THEN_NEGATIVES for loss in losses)


@dataclass(frozen=True)
class NegativeChoice:
    """The sampler a run uses, with where its name came from (for the run record)."""

    name: str
    options: Mapping[str, Any]
    #: ``"run"`` (the config's ``negatives``) or ``"dataset <name>"`` (the dataset's hint)
    source: str
    sampler: NegativeSampler

    def describe(self) -> dict[str, Any]:
        """Name, source and the sampler's public settings (defaults included) for the record."""
        settings = {k: v for k, v in vars(self.sampler).items()
                    if not k.startswith("_") and isinstance(v, (str, int, float, bool, type(None)))}
        return {"sampler": self.name, "options": {**settings, **self.options}, "from": self.source}


class EvalEmbedder:
    """L2-normalised embeddings from the model in eval mode, without gradients, in chunks.

    Every module's train/eval flag is restored afterwards, so a stage's training state (frozen
    parts, dropout) is exactly what it was.
    """

    def __init__(self, model: nn.Module, autocast: Callable[[], Any] = nullcontext, chunk: int = CHUNK) -> None:
        self.model, self.autocast, self.chunk = model, autocast, chunk

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def images(self, images: Tensor) -> Tensor:
        return self._embed(self.model.image, images)

    def texts(self, token_ids: Tensor) -> Tensor:
        return self._embed(self.model.text, token_ids)

    def _embed(self, encoder: nn.Module, inputs: Tensor) -> Tensor:
        modes = [(module, module.training) for module in self.model.modules()]
        self.model.eval()
        try:
            with torch.no_grad(), self.autocast():
                parts = [F.normalize(as_encoder_output(encoder(chunk.to(self.device))).embedding.float(), dim=-1)
                         for chunk in inputs.split(self.chunk)]
        finally:
            for module, training in modes:
                module.training = training
        return torch.cat(parts)


@dataclass
class BatchPool:
    """The :class:`~itr_bench.api.NegativePool` of one global batch (built by the feed)."""

    instance_ids: Tensor
    generator: torch.Generator
    make_pairs: Callable[[Tensor], TrainingPairs]
    make_anchor_images: Callable[[], Tensor]
    embedder: EvalEmbedder
    _anchor_images: Tensor | None = field(default=None, init=False)
    _anchor_embeddings: Tensor | None = field(default=None, init=False)

    def pairs(self, images: Tensor) -> TrainingPairs:
        return self.make_pairs(images)

    @property
    def anchor_images(self) -> Tensor | None:
        """The anchors' training views, if a sampler asked for their embeddings (else None)."""
        return self._anchor_images

    def anchor_embeddings(self) -> Tensor:
        if self._anchor_embeddings is None:
            self._anchor_images = self.make_anchor_images()
            self._anchor_embeddings = self.embedder.images(self._anchor_images)
        return self._anchor_embeddings

    def text_embeddings(self, pairs: TrainingPairs) -> Tensor:
        return self.embedder.texts(pairs.token_ids)


@dataclass(frozen=True)
class NegativeMining:
    """What a stage with a paired-layout loss hands the feed: the sampler and the model to score with."""

    name: str
    sampler: NegativeSampler
    embedder: EvalEmbedder
