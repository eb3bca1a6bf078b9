"""The paper's image path: a timm ResNet trunk (pool5, 2048-d for ResNet-50) plus the paper's head.

Official builders: ``resnet52_new_hope_word2_pool.m`` (Flickr), ``coco_word2_pool.m``,
``cuhk_word2_pool.m``. The trunk keeps timm's own BatchNorm settings (eps 1e-5, which ImageNet
weights were trained with); only the head uses MatConvNet's eps 1e-3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch.nn.functional as F
from annotated_types import Ge, Gt, Le, Lt

# The local-cache-only timm loader of the backbones plugin (same distribution), not duplicated here.
from itr_bench_backbones.timm_weights import create_timm_model
from torch import Tensor, nn

from itr_bench.api import EncoderContext, EncoderOutput, ImageEncoder
from itr_bench.errors import ItrBenchError

from .head import PaperHead, resolve_dropout, scaled
from .trunk_rates import set_bn_momentum, trunk_groups
from .tta import flip_sum

#: Width of the paper's ``fc1`` / ``fc1_1`` layers.
HEAD_WIDTH = 2048
#: MatConvNet ResNet ``pool5`` is a 7x7 average pool with stride 1 (dense at test time).
POOL5 = 7


class DualPathImageEncoder(ImageEncoder):
    """Image path of the dual-path CNN: trunk -> fc1 -> BN -> ReLU -> fc1_1 -> BN (-> ReLU -> dropout)."""

    def __init__(self, trunk: nn.Module, head: PaperHead, weights: str = "random") -> None:
        super().__init__()
        self.trunk = trunk
        self.head = head
        self.weights = weights
        self.output_dim = head.out_dim

    def forward(self, images: Tensor) -> EncoderOutput:
        return self.head(self.trunk(images))

    def features_view(self) -> str:
        return self.head.features_view()

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """``image.trunk.*`` by MatConvNet parameter kind (see :mod:`.trunk_rates`) and ``image.head``."""
        return {**trunk_groups(self.trunk), "image.head": list(self.head.parameters())}

    def weight_sources(self) -> dict[str, str]:
        return {"image.trunk": self.weights}

    def dense_embedding(self, images: Tensor) -> Tensor:
        """The official test-time feature: the head run at every ``pool5`` position, summed.

        ``test/extract_pic_feature_word2_plus_52.m`` feeds the full image (no crop), so the
        7x7 stride-1 ``pool5`` leaves a spatial map; the fully convolutional head runs at each
        position and the ``fc1_1bn`` outputs are summed. At 224x224 this equals ``forward``.
        """
        maps = self.trunk.forward_features(images)
        if maps.dim() != 4:
            raise ItrBenchError(
                f"dense_embedding needs a convolutional trunk, got features of shape {tuple(maps.shape)}"
            )
        kernel = (min(POOL5, maps.shape[2]), min(POOL5, maps.shape[3]))
        pooled = F.avg_pool2d(maps, kernel, stride=1)
        batch, channels, height, width = pooled.shape
        positions = pooled.permute(0, 2, 3, 1).reshape(batch * height * width, channels)
        return self.head(positions).embedding.reshape(batch, height * width, -1).sum(1)

    def test_time_embedding(self, images: Tensor) -> Tensor:
        """The paper's test feature: dense sum over positions, for the image plus its horizontal flip."""
        return flip_sum(self.dense_embedding, images)


#: Stage and stem widths of timm's ResNets, scaled by ``trunk_width``.
RESNET_STAGES = (64, 128, 256, 512)
RESNET_STEM = 64


def dualpath_image(
    context: EncoderContext,
    *,
    backbone: str = "resnet50",
    pretrained: bool = False,
    checkpoint: str | Path | None = None,
    width: Annotated[float, Gt(0)] = 1.0,
    trunk_width: Annotated[float, Gt(0)] | None = None,
    dropout: Annotated[float, Ge(0), Lt(1)] | None = None,
    trunk_bn_momentum: Annotated[float, Ge(0), Le(1)] | None = None,
) -> DualPathImageEncoder:
    """The paper's image path on any timm ResNet (``backbone``); ``width`` scales the 2048-d head
    and the trunk's channels (the CPU quick-start's knob; ``trunk_width`` sets the trunk's alone).

    ``pretrained=False`` by default: ImageNet weights are used only when the user has them
    in the local timm / Hugging Face cache (``pretrained=True``) or gives ``checkpoint``.
    The embedding size is ``context.embed_dim`` when set (fc1_1's output), else the head width.
    ``trunk_bn_momentum`` sets the trunk's BN running-average rate (the paper's Stage II: 0.001;
    default: timm's 0.1).

    Args:
        backbone: the timm ResNet name (resnet50 in the paper; resnet10t/resnet18 for CPU runs).
        pretrained: load ImageNet weights for the trunk from the local timm / Hugging Face cache.
        checkpoint: a local weights file for the trunk (instead of the cache).
        width: scales the 2048-d head and the trunk's channels (1.0: the paper's size).
        trunk_width: the trunk's channel scale alone (default: width).
        dropout: drop rate before the instance classifier (default: the dataset's hint, else 0.5).
        trunk_bn_momentum: the trunk's BN running-average rate (the paper's Stage II: 0.001; default timm's 0.1).
    """
    owner = f"image encoder 'dualpath-image' ({backbone})"
    rate = resolve_dropout(context, dropout, owner)
    trunk_width = width if trunk_width is None else trunk_width
    narrow = {}
    if trunk_width != 1.0:  # timm's ResNet takes its stage and stem widths as arguments
        if pretrained:
            raise ItrBenchError(f"{owner}: pretrained weights need the full trunk; set trunk_width = 1")
        narrow = {"channels": tuple(scaled(c, trunk_width) for c in RESNET_STAGES),
                  "stem_width": scaled(RESNET_STEM, trunk_width)}
    try:
        created = create_timm_model(
            backbone, pretrained, owner=owner, checkpoint=checkpoint, num_classes=0, global_pool="avg", **narrow
        )
    except TypeError as exc:
        raise ItrBenchError(f"{owner}: {backbone!r} cannot be narrowed (trunk_width={trunk_width}): {exc}") from None
    if trunk_bn_momentum is not None:
        set_bn_momentum(created.module, trunk_bn_momentum)
    head_width = scaled(HEAD_WIDTH, width)
    head = PaperHead(
        created.module.num_features,
        context.embed_dim or head_width,
        hidden=(head_width,),
        dropout=rate,
    )
    return DualPathImageEncoder(created.module, head, created.weights)


def dualpath_resnet50(
    context: EncoderContext,
    *,
    pretrained: bool = False,
    checkpoint: str | Path | None = None,
    width: Annotated[float, Gt(0)] = 1.0,
    dropout: Annotated[float, Ge(0), Lt(1)] | None = None,
    trunk_bn_momentum: Annotated[float, Ge(0), Le(1)] | None = None,
) -> DualPathImageEncoder:
    """The paper's image path: ResNet-50 + fc1 (2048) + fc1_1 (2048), BN, ReLU, dropout.

    Registered with the paper's Stage II trunk learning-rate multipliers as its own
    ``lr_mult`` (:data:`.trunk_rates.PAPER_TRUNK_LR_MULT`); a stage's 0 still freezes.

    Args:
        pretrained: load ImageNet weights for the trunk from the local timm / Hugging Face cache.
        checkpoint: a local weights file for the trunk (instead of the cache).
        width: scales the 2048-d head and the trunk's channels (1.0: the paper's size).
        dropout: drop rate before the instance classifier (default: the dataset's hint, else 0.5).
        trunk_bn_momentum: the trunk's BN running-average rate (the paper's Stage II: 0.001; default timm's 0.1).
    """
    return dualpath_image(
        context,
        backbone="resnet50",
        pretrained=pretrained,
        checkpoint=checkpoint,
        width=width,
        dropout=dropout,
        trunk_bn_momentum=trunk_bn_momentum,
    )
