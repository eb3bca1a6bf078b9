"""A stage's objective: the weighted sum of its losses, each fed the view it declares."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from ..api import EncoderOutput, Inputs, Loss
from ..errors import ItrBenchError
from .distributed import distributed_loss_terms

#: How each declared input view is taken from an encoder output.
VIEWS = {
    Inputs.NORMALIZED: lambda out: F.normalize(out.embedding.float(), dim=-1),
    Inputs.EMBEDDING: lambda out: out.embedding.float(),
    Inputs.FEATURES: lambda out: out.features.float(),
}


class NonFiniteLoss(ItrBenchError):
    """Training diverged: a loss term became NaN or infinite."""


def check_trainable(name: str, terms: Mapping[str, Tensor]) -> None:
    """While training, some term of loss ``name`` must carry a gradient; else back-propagation
    fails deep in torch ("element 0 of tensors does not require grad"), which reads as a bug in
    itr-bench when the cause is a loss that returns a constant or a stage that trains nothing."""
    if torch.is_grad_enabled() and terms and not any(v.requires_grad for v in terms.values()):
        raise ItrBenchError(
            f"loss {name!r}: its terms ({', '.join(terms)}) carry no gradient: the loss returns a value that does "
            "not depend on the embeddings (a constant, or computed from detached tensors), or every encoder "
            "and the loss are frozen; training on it would change nothing")


def objective(
    losses: Mapping[str, Loss],
    weights: Mapping[str, float],
    image: EncoderOutput,
    text: EncoderOutput,
    instance_ids: Tensor,
    term_weights: Mapping[str, float] | None = None,
    weighted: dict[str, Tensor] | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """``(total, terms)``: the weighted sum to back-propagate and every unweighted term (for logs).

    ``losses`` maps each name in ``weights`` to the loss instance this stage uses; a term's
    weight is its loss's weight times ``term_weights[term]`` (default 1). ``weighted``, when
    given, receives each weighted term with its graph (``itr_bench.engine.balance``).

    Losses run in float32 whatever the autocast precision of the encoders, and through
    :func:`distributed_loss_terms`, which keeps data-parallel gradients exact.
    """
    total: Tensor | None = None
    logged: dict[str, Tensor] = {}
    for name, weight in weights.items():
        loss = losses[name]
        view = VIEWS[Inputs(loss.inputs)]
        terms = distributed_loss_terms(loss, view(image), view(text), instance_ids)
        check_trainable(name, terms)
        for term, value in terms.items():
            key = term if term not in logged else f"{name}.{term}"
            logged[key] = value.detach()
            scaled = weight * (term_weights or {}).get(term, 1.0) * value
            if weighted is not None:
                weighted[key] = scaled
            total = scaled if total is None else total + scaled
    if total is None:
        raise ItrBenchError("the stage has no loss terms")
    return total, logged
