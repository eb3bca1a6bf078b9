"""How hard each loss term pulls on the shared embedding: the gradient norm of its weighted value.

A stage's balance is about gradients, not values: an instance term at chance is a cross-entropy
near ``ln C`` whatever the model does, so matching weights on *values* lets a classifier that has
learnt nothing steer the embedding both paths share. For each weighted term this measures
``||d(weight x term) / d(embedding)||`` over the image and text embeddings together (the
encoders' ``embedding`` outputs, before any normalisation: what every loss view is cut from),
without touching parameter gradients, random streams or batch-norm statistics, so the training
step that follows is the one it would have been. Records keep it at each stage's first step
beside the values (``stage_start_terms[i].grad_norm``); ``benchmarks/stage_balance.py``
averages it over batches.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from ..api import EncoderOutput


def embedding_grad_norms(image: EncoderOutput, text: EncoderOutput, weighted: Mapping[str, Tensor],
                         total: Tensor | None = None) -> dict[str, float]:
    """``{term: gradient norm of its weighted value on both embeddings}``, plus ``loss`` for ``total``.

    Empty when neither embedding is trained (nothing to pull on).
    """
    inputs = [out.embedding for out in (image, text) if out.embedding.requires_grad]
    if not inputs:
        return {}
    targets = {**weighted, **({"loss": total} if total is not None else {})}
    norms = {}
    for term, value in targets.items():
        grads = torch.autograd.grad(value, inputs, retain_graph=True, allow_unused=True)
        norms[term] = float(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None)))
    return norms
