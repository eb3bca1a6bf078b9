"""Evaluation: embed a split once, then score it by its declared protocol.

Image-caption splits get i2t and t2i R@1/5/10, medR, meanR and rSum (averaged over folds when
the split has several, e.g. COCO 1K); identity splits get text-to-image R@K, mAP and mINP.
Beside the metrics go the embeddings' collapse measures (:mod:`itr_bench.collapse`), so a run's
record can say whether its validation or test embeddings collapsed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import Tensor

from ..api import Protocol, as_encoder_output
from ..collapse import collapse_measures
from ..data.placement import DEVICE_MEMORY_FRACTION
from ..data.prepare import PreparedSplit
from ..metric_declarations import DECLARED, MetricSet
from ..metrics import folded_image_caption_metrics, identity_metrics, image_caption_metrics
from .feeding import CaptionTokens, test_images
from .model import RetrievalModel

#: Evaluation embeds without gradients, so its batches never need to be smaller than this.
MIN_EVAL_BATCH = 64


def eval_batch_size(train_batch_size: int) -> int:
    """The batch size every evaluation of a run uses (validation, test, ``itr-bench evaluate``):
    the training batch size, at least :data:`MIN_EVAL_BATCH`. The scores do not depend on it."""
    return max(train_batch_size, MIN_EVAL_BATCH)


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
    ``workers`` and ``memory_fraction`` as the run's (:func:`~itr_bench.engine.feeding.test_images`).
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
                   metrics: MetricSet) -> dict[str, float]:
    sim = images @ texts.T
    if split.folds > 1:
        return folded_image_caption_metrics(sim, tokens.caption_image, split.folds, metrics=metrics)
    return image_caption_metrics(sim, tokens.caption_image, metrics=metrics)


def _identity(split: PreparedSplit, images: Tensor, texts: Tensor, tokens: CaptionTokens,
              metrics: MetricSet) -> dict[str, float]:
    gallery_ids = torch.tensor(split.table["instance_id"], dtype=torch.long)
    return identity_metrics(texts @ images.T, gallery_ids[tokens.caption_image], gallery_ids, metrics=metrics)


#: Protocol -> scoring function.
PROTOCOLS: Mapping[Protocol, Callable[[PreparedSplit, Tensor, Tensor, CaptionTokens, MetricSet], dict[str, float]]] = {
    Protocol.IMAGE_CAPTION: _image_caption,
    Protocol.IDENTITY: _identity,
}


def score(split: PreparedSplit, images: Tensor, texts: Tensor, tokens: CaptionTokens,
          metrics: MetricSet = DECLARED) -> dict[str, float]:
    """The split's protocol metrics (those of ``metrics`` its protocol reports) from its embeddings."""
    return PROTOCOLS[Protocol(split.protocol)](split, images, texts, tokens, metrics)


def evaluate(model: RetrievalModel, split: PreparedSplit, tokens: CaptionTokens, *, metrics: MetricSet = DECLARED,
             **embed_options) -> dict[str, float]:
    """Embed ``split`` and score it."""
    return evaluate_with_collapse(model, split, tokens, metrics=metrics, **embed_options)[0]


def evaluate_with_collapse(model: RetrievalModel, split: PreparedSplit, tokens: CaptionTokens, *,
                           metrics: MetricSet = DECLARED,
                           **embed_options) -> tuple[dict[str, float], dict[str, float]]:
    """The split's metrics and its embeddings' collapse measures (:func:`~itr_bench.collapse.collapse_measures`)."""
    images, texts = embed_split(model, split, tokens, **embed_options)
    return score(split, images, texts, tokens, metrics), collapse_measures(images, texts)
