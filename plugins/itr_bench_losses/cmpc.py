"""Cross-Modal Projection Classification (CMPC): a norm-softmax classifier on cross-modal projections."""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from annotated_types import Ge, Lt
from torch import Tensor, nn

from itr_bench.api import Gathering, Inputs, Loss, LossContext, Search
from itr_bench.errors import ConfigError, ItrBenchError


class CmpcLoss(Loss):
    """Cross-entropy of ``(x.t^) t^ @ normalize_columns(W)`` and of ``(t.x^) x^ @ normalize_columns(W)``.

    Reference: Zhang & Lu, ECCV 2018; YingZhangDUT/Cross-Modal-Projection-Learning
    ``modules.py cmpc_loss_compute``: its own weight ``W`` of shape ``(D, num_instances)``,
    Xavier-initialised (uniform, as TF's ``xavier_initializer``), columns L2-normalised in the
    forward pass, no bias, no scale; each image is projected on its own caption's direction
    and vice versa; ``tf.losses.softmax_cross_entropy`` (mean over the batch).

    Defaults: ``label_smoothing=0.0`` (train_image_text.py). The ids are the class labels.

    Terms: ``cmpc_image`` (image projected on text) and ``cmpc_text``.

    Input: the embedding itself (``Inputs.EMBEDDING``: the scored tensor before L2
    normalisation; no ReLU, no dropout), as the reference feeds it the joint embedding of
    ``modules.py build_joint_embeddings``: a linear 1x1 convolution with ``activation_fn=None``
    and no dropout after it. The projections use its norm, so it is not pre-normalised.

    Data parallel: LOCAL (each term uses only its own pair) and mean-reduced.

    Args:
        label_smoothing: label smoothing of the cross-entropy, in [0, 1).
    """

    inputs = Inputs.EMBEDDING
    gathering = Gathering.LOCAL
    reduction = "mean"

    def __init__(
        self, context: LossContext, *, label_smoothing: Annotated[float, Ge(0), Lt(1), Search(0.0, 0.3)] = 0.0
    ) -> None:
        super().__init__()
        if context.num_instances <= 0:
            raise ConfigError(
                f"cmpc: the number of training instances (LossContext.num_instances) must be > 0, "
                f"got {context.num_instances}"
            )
        self.label_smoothing = float(label_smoothing)
        self.weight = nn.Parameter(torch.empty(context.embed_dim, context.num_instances))
        nn.init.xavier_uniform_(self.weight)

    def compute(self, image: Tensor, text: Tensor, instance_ids: Tensor) -> dict[str, Tensor]:
        classes = self.weight.shape[1]
        if image.shape[1] != self.weight.shape[0]:
            raise ItrBenchError(
                f"cmpc: features have width {image.shape[1]}, W has {self.weight.shape[0]} rows"
            )
        if len(instance_ids) and (instance_ids.min() < 0 or instance_ids.max() >= classes):
            raise ItrBenchError(
                f"cmpc: instance ids must lie in [0, {classes}), got "
                f"[{int(instance_ids.min())}, {int(instance_ids.max())}]"
            )
        image_dir, text_dir = F.normalize(image, dim=1), F.normalize(text, dim=1)
        image_on_text = (image * text_dir).sum(dim=1, keepdim=True) * text_dir
        text_on_image = (text * image_dir).sum(dim=1, keepdim=True) * image_dir
        # x @ normalize(W, dim=0) == (x @ W) / ||W columns||: one GEMM for both modalities and no
        # normalised (D, C) copy of W (it would dominate time and memory at 100k classes).
        column_norms = self.weight.norm(dim=0).clamp_min(1e-12)
        logits = (torch.cat([image_on_text, text_on_image]) @ self.weight) / column_norms
        per_sample = F.cross_entropy(
            logits, instance_ids.repeat(2), label_smoothing=self.label_smoothing, reduction="none"
        )
        batch = image.shape[0]
        return {"cmpc_image": per_sample[:batch].mean(), "cmpc_text": per_sample[batch:].mean()}
