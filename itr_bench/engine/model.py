"""The trained object: an image encoder, a text encoder and the losses that own parameters."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn

from ..api import EncoderOutput, ImageEncoder, Loss, TextEncoder, as_encoder_output
from .balance import embedding_grad_norms
from .objective import objective


class RetrievalModel(nn.Module):
    """Both encoders plus every loss of every stage (a loss may own a classifier or temperature).

    Keeping the losses inside the model puts their parameters in the same checkpoint, the
    same optimizer and the same DDP wrapper as the encoders.
    """

    def __init__(self, image: ImageEncoder, text: TextEncoder, losses: Mapping[str, Loss]) -> None:
        super().__init__()
        self.image = image
        self.text = text
        self.losses = nn.ModuleDict(dict(losses))

    def forward(
        self,
        images: Tensor,
        token_ids: Tensor,
        instance_ids: Tensor | None = None,
        *,
        losses: Mapping[str, Loss] | None = None,
        weights: Mapping[str, float] | None = None,
        term_weights: Mapping[str, float] | None = None,
        grad_norms: dict[str, float] | None = None,
    ) -> tuple[EncoderOutput, EncoderOutput] | tuple[Tensor, dict[str, Tensor]]:
        """The two encoder outputs; with ``losses`` and ``weights``, the stage objective instead.

        Computing the objective inside ``forward`` keeps the losses' own parameters inside the
        DDP-wrapped call, so their gradients are synchronised like every other parameter's.
        ``grad_norms``, when given, receives each weighted term's gradient norm on the embeddings
        (:func:`~itr_bench.engine.balance.embedding_grad_norms`).
        """
        image, text = as_encoder_output(self.image(images)), as_encoder_output(self.text(token_ids))
        if losses is None or weights is None or instance_ids is None:
            return image, text
        if grad_norms is None:
            return objective(losses, weights, image, text, instance_ids, term_weights)
        weighted: dict[str, Tensor] = {}
        total, terms = objective(losses, weights, image, text, instance_ids, term_weights, weighted)
        grad_norms.update(embedding_grad_norms(image, text, weighted, total))
        return total, terms

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Encoder groups (``image.*``, ``text.*``) and one ``loss.<name>`` group per loss."""
        groups = {**self.image.param_groups(), **self.text.param_groups()}
        for name, loss in self.losses.items():
            params = list(loss.parameters())
            if params:
                groups[f"loss.{name}"] = params
        return groups
