"""Any timm image model as an image encoder: pooled trunk features, projected if needed."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor, nn

from itr_bench.api import EncoderContext, ImageEncoder

from .projection import projection
from .timm_weights import create_timm_model


class TimmImageEncoder(ImageEncoder):
    """Any timm model by name; pretrained when its weights are cached locally."""

    def __init__(self, trunk: nn.Module, weights: str, embed_dim: int | None = None) -> None:
        super().__init__()
        self.trunk = trunk
        #: ``"random"`` or the file the trunk's weights came from.
        self.weights = weights
        self.projection, self.output_dim = projection(trunk.num_features, embed_dim)

    def forward(self, images: Tensor) -> Tensor:
        return self.projection(self.trunk(images))

    def weight_sources(self) -> dict[str, str]:
        return {"image.trunk": self.weights}

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "image.trunk": list(self.trunk.parameters()),
            "image.head": list(self.projection.parameters()),
        }


def timm_image_encoder(
    context: EncoderContext,
    *,
    model: str = "resnet50",
    pretrained: bool | None = None,
    checkpoint: str | Path | None = None,
    global_pool: str = "avg",
    partial_checkpoint: bool = False,
) -> TimmImageEncoder:
    """Build :class:`TimmImageEncoder`. ``pretrained=None`` uses cached weights when there are any.

    Args:
        model: the timm model name.
        pretrained: True: load cached ImageNet weights; False: random; None: cached ones when present.
        checkpoint: a local weights file (instead of the cache).
        global_pool: timm's global pooling ('avg', 'max', 'avgmax', ...).
        partial_checkpoint: load weights that leave parameters random or hold unused keys (else
            refused, naming them); the record's weights then say what was partial.
    """
    created = create_timm_model(
        model,
        pretrained,
        owner="image encoder 'timm'",
        checkpoint=checkpoint,
        partial=partial_checkpoint,
        num_classes=0,
        global_pool=global_pool,
    )
    return TimmImageEncoder(created.module, created.weights, context.embed_dim)
