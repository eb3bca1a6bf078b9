"""The paper's instance loss: one softmax classifier W_share shared by the image and text paths."""

from __future__ import annotations

import math
from typing import Annotated

import torch
import torch.nn.functional as F
from annotated_types import Ge
from torch import Tensor, nn

from itr_bench.api import Gathering, Inputs, Loss, LossContext, Search
from itr_bench.errors import ConfigError, ItrBenchError


class InstanceLoss(Loss):
    """Softmax cross-entropy over training instances with a classifier shared by both modalities.

    Reference: Zheng et al., "Dual-Path Convolutional Image-Text Embeddings with Instance Loss"
    (TOMM 2020); official MatConvNet builders (``fc_img`` and ``fc_txt`` share ``fcsharef``
    and, for Flickr/CUHK, ``fcshareb``). IRRA's ``compute_id`` is the same loss (mean of the two
    cross-entropies over a shared ``nn.Linear``).

    Classes are ``context.num_instances`` (one per training image for Flickr/COCO, one per person
    for CUHK-PEDES); ``instance_ids`` are the labels, so repeated ids simply share a class.

    Defaults: ``image_weight=1.0, text_weight=1.0`` (Stage I, 1:1; the Stage II builders use
    1 : 0.1 for Flickr/COCO and 1 : 0.5 for CUHK), ``bias=True`` (Flickr and CUHK share a bias;
    the COCO builder has none: pass ``bias=False``). W_share is initialised as MatConvNet's
    ``Conv.m`` does (He normal, std sqrt(2/D); zero bias).

    Terms: ``instance_image`` and ``instance_text``, each a mean over the batch times its weight.
    Memory is linear in the classes: one ``(2B, C)`` logit matrix (B=128, C=113,287: 116 MB in
    fp32) and the ``(C, D)`` weight; nothing is quadratic in C.

    Input: the encoder's classifier input (``Inputs.FEATURES``). The paper's encoders give the
    ReLU + dropout of the embedding there (drop rate 0.75 Flickr, 0.5 COCO, 0.8 CUHK-PEDES in
    the official builders: ``fc1_1bn -> ReLU -> Dropout -> fc_img``), so the embedding's negative
    coordinates get no gradient from this loss, exactly as in the reference.

    Data parallel: LOCAL (each sample's term needs only itself) and mean-reduced, so DDP's
    gradient averaging over equal shards gives the single-process gradient unchanged.

    Args:
        image_weight: weight of the image path's cross-entropy term.
        text_weight: weight of the text path's cross-entropy term.
        bias: give the shared classifier W_share a bias (Flickr/CUHK builders; COCO has none).
    """

    inputs = Inputs.FEATURES
    gathering = Gathering.LOCAL
    reduction = "mean"

    def __init__(
        self,
        context: LossContext,
        *,
        image_weight: Annotated[float, Ge(0)] = 1.0,
        text_weight: Annotated[float, Ge(0)] = 1.0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if context.num_instances <= 0:
            raise ConfigError(
                "instance loss: the number of training instances (LossContext.num_instances) "
                f"must be > 0, got {context.num_instances}"
            )
        self.image_weight = float(image_weight)
        self.text_weight = float(text_weight)
        self.classifier = nn.Linear(context.embed_dim, context.num_instances, bias=bool(bias))
        nn.init.normal_(self.classifier.weight, std=math.sqrt(2.0 / context.embed_dim))
        if self.classifier.bias is not None:
            nn.init.zeros_(self.classifier.bias)

    def compute(self, image: Tensor, text: Tensor, instance_ids: Tensor) -> dict[str, Tensor]:
        self._check(image, instance_ids)
        batch = image.shape[0]
        # One GEMM for both modalities: W_share is read once per step.
        logits = self.classifier(torch.cat([image, text]))
        per_sample = F.cross_entropy(logits, instance_ids.repeat(2), reduction="none")
        return {
            "instance_image": per_sample[:batch].mean() * self.image_weight,
            "instance_text": per_sample[batch:].mean() * self.text_weight,
        }

    def _check(self, image: Tensor, instance_ids: Tensor) -> None:
        if image.shape[1] != self.classifier.in_features:
            raise ItrBenchError(
                f"instance loss: features have width {image.shape[1]}, the shared classifier "
                f"expects {self.classifier.in_features} (LossContext.embed_dim)"
            )
        classes = self.classifier.out_features
        if len(instance_ids) and (instance_ids.min() < 0 or instance_ids.max() >= classes):
            raise ItrBenchError(
                f"instance loss: instance ids must lie in [0, {classes}), got "
                f"[{int(instance_ids.min())}, {int(instance_ids.max())}]"
            )
