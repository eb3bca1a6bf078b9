"""Evaluation: embed a split once, then score it by its declared protocol.

Image-caption splits get i2t and t2i R@1/5/10, medR, meanR, rSum and i2t mAP@R and R-Precision
(averaged over folds when the split has several, e.g. COCO 1K); identity splits get
text-to-image R@K, mAP, mINP, mAP@R and R-Precision. Beside the metrics go the embeddings'
collapse measures (:mod:`itr_bench.metrics.collapse`), so a run's record can say whether its validation
or test embeddings collapsed; the test pass can also keep every query's results
(:mod:`itr_bench.store.per_query`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..api import Protocol, as_encoder_output
from ..data.prepare import PreparedSplit
from ..feed.feeding import CaptionTokens, test_images
from ..feed.placement import DEVICE_MEMORY_FRACTION
from ..metrics.collapse import collapse_measures
from ..metrics.declarations import DECLARED, MetricSet, Ranks
from ..metrics.ranks import folded_image_caption_metrics, identity_queries, image_caption_queries
from ..store.per_query import QueryResults, query_results, split_digest, write_query_results
from .model import RetrievalModel

#: Evaluation embeds without gradients, so its batches never need to be smaller than this.
MIN_EVAL_BATCH = 64


def eval_batch_size(train_batch_size: int) -> int:
    """The batch size every evaluation of a run uses (validation, test, ``itr-bench evaluate``):
    the training batch size, at least :data:`MIN_EVAL_BATCH`. The scores do not depend on it."""
    return max(train_batch_size, MIN_EVAL_BATCH)


@dataclass(frozen=True)
class EvalSettings:
    """How a run embeds a split for scoring, built once from its config and shared by every
    evaluation of the run (validation, the untrained baseline, test, ``itr-bench evaluate``),
    so they cannot drift apart. The scores depend on ``image_size``, ``tta`` and ``transform``
    only; the rest says how the work is placed."""

    image_size: int
    batch_size: int
    device: torch.device
    tta: bool = False
    autocast: Callable[[], object] = nullcontext
    #: the test view (the run's ``test_transform``)
    transform: str = "test"
    #: streaming workers and the device-memory share for the images (the run's)
    workers: int | None = None
    memory_fraction: float = DEVICE_MEMORY_FRACTION

    @classmethod
    def of(cls, config: Any, device: torch.device, autocast: Callable[[], object] = nullcontext,
           **changes: Any) -> EvalSettings:
        """The settings ``config`` (a :class:`~itr_bench.config.RunConfig`) evaluates with; ``changes``
        override fields (``tta=`` for a command that asks otherwise)."""
        return cls(**{"image_size": config.image_size, "batch_size": eval_batch_size(config.batch_size),
                      "device": device, "tta": config.test_time_augmentation, "autocast": autocast,
                      "transform": config.test_transform, "workers": config.workers,
                      "memory_fraction": config.feed_memory_fraction, **changes})

    def embed_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`embed_split`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@torch.no_grad()
def embed_split(
    model: RetrievalModel,
    split: PreparedSplit,
    tokens: CaptionTokens,
    *,
    image_size: int,
    batch_size: int,
    device: torch.device,
    tta: bool = False,
    autocast: Callable[[], object] = nullcontext,
    transform: str = "test",
    workers: int | None = None,
    memory_fraction: float = DEVICE_MEMORY_FRACTION,
) -> tuple[Tensor, Tensor]:
    """L2-normalised float32 embeddings of every image ``(N, D)`` and caption ``(M, D)``, on CPU.

    ``transform`` is the test view (``test_transform``: centre square, squashed or full image);
    ``workers`` and ``memory_fraction`` as the run's (:func:`~itr_bench.feed.feeding.test_images`).
    """
    was_training = model.training
    model.eval()

    def embed(encoder, inputs: Tensor) -> Tensor:
        with autocast():
            out = encoder.test_time_embedding(inputs) if tta else as_encoder_output(encoder(inputs)).embedding
        return F.normalize(out.float(), dim=-1).cpu()

    try:
        images = _in_order([(index, embed(model.image, batch))
                            for index, batch in test_images(split, image_size, batch_size, device, transform,
                                                           workers, memory_fraction)])
        texts = torch.cat([embed(model.text, tokens.ids[i : i + batch_size].to(device))
                           for i in range(0, len(tokens.ids), batch_size)])
    finally:
        model.train(was_training)
    return images, texts


def _in_order(parts: list[tuple[Tensor, Tensor]]) -> Tensor:
    """Rows placed by their image index (a ``test-full`` feed batches by shape, not in order)."""
    index = torch.cat([i for i, _ in parts])
    rows = torch.cat([e for _, e in parts])
    out = torch.empty_like(rows)
    out[index] = rows
    return out


def _image_caption(split: PreparedSplit, images: Tensor, texts: Tensor, tokens: CaptionTokens,
                   metrics: MetricSet, keep_queries: bool) -> tuple[dict[str, float], Ranks | None]:
    sim = images @ texts.T
    if split.folds > 1:  # folds are scored apart; the kept queries rank against the whole split
        values = folded_image_caption_metrics(sim, tokens.caption_image, split.folds, metrics=metrics)
        return values, image_caption_queries(sim, tokens.caption_image) if keep_queries else None
    ranks = image_caption_queries(sim, tokens.caption_image, t2i_top=keep_queries)
    return metrics.compute(ranks), ranks if keep_queries else None


def _identity(split: PreparedSplit, images: Tensor, texts: Tensor, tokens: CaptionTokens,
              metrics: MetricSet, keep_queries: bool) -> tuple[dict[str, float], Ranks | None]:
    labels = _image_labels(split)
    ranks = identity_queries(texts @ images.T, labels[tokens.caption_image], labels)
    return metrics.compute(ranks), ranks if keep_queries else None


def _image_labels(split: PreparedSplit) -> Tensor:
    """What makes an image a correct match: its own index, or under the identity protocol its person."""
    if Protocol(split.protocol) is Protocol.IDENTITY:
        return torch.tensor(split.table["instance_id"], dtype=torch.long)
    return torch.arange(len(split))


#: Protocol -> scoring function: the metrics, and the per-query ranks and top lists when asked.
PROTOCOLS: Mapping[Protocol, Callable[[PreparedSplit, Tensor, Tensor, CaptionTokens, MetricSet, bool],
                                      tuple[dict[str, float], Ranks | None]]] = {
    Protocol.IMAGE_CAPTION: _image_caption,
    Protocol.IDENTITY: _identity,
}


def score(split: PreparedSplit, images: Tensor, texts: Tensor, tokens: CaptionTokens,
          metrics: MetricSet = DECLARED) -> dict[str, float]:
    """The split's protocol metrics (those of ``metrics`` its protocol reports) from its embeddings."""
    return PROTOCOLS[Protocol(split.protocol)](split, images, texts, tokens, metrics, False)[0]


def score_with_queries(split: PreparedSplit, images: Tensor, texts: Tensor, tokens: CaptionTokens,
                       metrics: MetricSet = DECLARED) -> tuple[dict[str, float], QueryResults]:
    """:func:`score` and every query's rank and top 10 (:mod:`itr_bench.store.per_query`), from one similarity matrix."""
    values, ranks = PROTOCOLS[Protocol(split.protocol)](split, images, texts, tokens, metrics, True)
    meta = {"split": split.name, "folds": split.folds,
            "split_digest": split_digest(split.table["image_id"], split.table["captions"])}
    return values, query_results(ranks, tokens.caption_image, _image_labels(split), meta)


def evaluate(model: RetrievalModel, split: PreparedSplit, tokens: CaptionTokens, settings: EvalSettings, *,
             metrics: MetricSet = DECLARED) -> dict[str, float]:
    """Embed ``split`` and score it."""
    return evaluate_with_collapse(model, split, tokens, settings, metrics=metrics)[0]


def evaluate_with_collapse(model: RetrievalModel, split: PreparedSplit, tokens: CaptionTokens, settings: EvalSettings,
                           *, metrics: MetricSet = DECLARED, queries_to: Path | None = None
                           ) -> tuple[dict[str, float], dict[str, float]]:
    """The split's metrics and its embeddings' collapse measures (:func:`~itr_bench.metrics.collapse.collapse_measures`).

    ``queries_to``: also write every query's results there (:func:`~itr_bench.store.per_query.write_query_results`).
    """
    images, texts = embed_split(model, split, tokens, **settings.embed_options())
    if queries_to is None:
        return score(split, images, texts, tokens, metrics), collapse_measures(images, texts)
    values, queries = score_with_queries(split, images, texts, tokens, metrics)
    write_query_results(queries_to, queries)
    return values, collapse_measures(images, texts)
