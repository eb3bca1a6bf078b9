"""The paper's deep text CNN: word embedding, 14 bottleneck blocks of 1x2 convs, max pooling.

Everything runs on ``(B, C, 1, L)`` maps, as MatConvNet does on the ``1 x L x V`` one-hot
sentence. Layer list (docs/paper-recipe.md rows 7-11, builders ``*_word2_pool.m``):

* ``fc2``: 1x1 conv V -> 300 *with bias* (the word embedding), then BN, no ReLU;
* stage 1: 3 blocks at 256 (first 300->128->128->256 with a projection shortcut, then 256->64->64->256);
* stage 2: 4 blocks at 512 (first stride 2 on its 1x2 conv and shortcut; mid width 128);
* stage 3: 6 blocks at 1024 (first stride 2; mid width 256);
* stage 4: 1 block 1024->2048->2048->2048 with a projection shortcut;
* max pooling over the remaining positions (``dagnn.Pooling`` defaults to max).

Convs are bias-free except the embedding, BN eps is 1e-3, init is He-normal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from itr_bench.data.text import PAD_ID

from .head import BN_EPS, he_init, scaled

#: The paper's word-vector size (GoogleNews word2vec).
WORD_DIM = 300
#: Blocks per stage in the paper: 3 + 4 + 6 + 1 = 14.
PAPER_BLOCKS: tuple[int, int, int, int] = (3, 4, 6, 1)


@dataclass(frozen=True)
class StageSpec:
    """One stage: output channels, bottleneck width of its first block and of the others, first stride."""

    out: int
    first_mid: int
    mid: int
    stride: int


#: The paper's stages, in channels at ``width=1``.
PAPER_STAGES: tuple[StageSpec, ...] = (
    StageSpec(out=256, first_mid=128, mid=64, stride=1),
    StageSpec(out=512, first_mid=128, mid=128, stride=2),
    StageSpec(out=1024, first_mid=256, mid=256, stride=2),
    StageSpec(out=2048, first_mid=2048, mid=2048, stride=1),
)


class WordEmbedding(nn.Module):
    """``fc2``: a 1x1 conv over one-hot words, as a lookup (same result, far cheaper).

    Row ``PAD_ID`` is held at zero and never trained, so a padding slot yields the bias only,
    exactly like an all-zero one-hot column in the official code.
    """

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        self.table = nn.Embedding(vocab_size, dim, padding_idx=PAD_ID)
        self.bias = nn.Parameter(torch.zeros(dim))
        # He-normal over the conv's fan-in, which is the vocabulary size (one-hot input).
        with torch.no_grad():
            nn.init.normal_(self.table.weight, std=(2.0 / vocab_size) ** 0.5)
            self.table.weight[PAD_ID].zero_()

    def forward(self, ids: Tensor) -> Tensor:
        """``(B, L)`` ids -> ``(B, dim, 1, L)``."""
        return (self.table(ids) + self.bias).transpose(1, 2).unsqueeze(2)


class Bottleneck(nn.Module):
    """1x1 -> 1x2 (padded left by 1, optional stride) -> 1x1, each with BN; ReLU after the sum."""

    def __init__(self, in_ch: int, mid: int, out: int, stride: int = 1) -> None:
        super().__init__()
        self.reduce = _conv_bn(in_ch, mid, (1, 1))
        self.conv = _conv_bn(mid, mid, (1, 2), stride=stride)
        self.expand = _conv_bn(mid, out, (1, 1))
        self.shortcut = _conv_bn(in_ch, out, (1, 1), stride) if in_ch != out or stride != 1 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.reduce(x))
        y = F.relu(self.conv(F.pad(y, (1, 0))))  # MatConvNet pad [0 0 1 0]: one zero on the left
        return F.relu(self.expand(y) + self.shortcut(x))


def _conv_bn(in_ch: int, out: int, kernel: tuple[int, int], stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out, kernel, stride=(1, stride), bias=False), nn.BatchNorm2d(out, eps=BN_EPS)
    )


class TextCNN(nn.Module):
    """Word ids ``(B, L)`` -> sentence features ``(B, C)``: the paper's text body up to the pooling."""

    def __init__(
        self,
        vocab_size: int,
        *,
        word_dim: int = WORD_DIM,
        width: float = 1.0,
        blocks: Sequence[int] = PAPER_BLOCKS,
    ) -> None:
        super().__init__()
        if len(blocks) != len(PAPER_STAGES) or any(n < 1 for n in blocks):
            raise ValueError(f"blocks must be {len(PAPER_STAGES)} positive counts, got {tuple(blocks)}")
        self.embedding = WordEmbedding(vocab_size, word_dim)
        self.embedding_bn = nn.BatchNorm2d(word_dim, eps=BN_EPS)  # no ReLU after it (official builders)
        stages, in_ch = [], word_dim
        for spec, count in zip(PAPER_STAGES, blocks):
            out = scaled(spec.out, width)
            layers = [Bottleneck(in_ch, scaled(spec.first_mid, width), out, spec.stride)]
            layers += [Bottleneck(out, scaled(spec.mid, width), out) for _ in range(count - 1)]
            stages.append(nn.Sequential(*layers))
            in_ch = out
        self.stages = nn.Sequential(*stages)
        self.out_dim = in_ch
        he_init(self.stages)
        he_init(self.embedding_bn)

    def feature_map(self, ids: Tensor) -> Tensor:
        """``(B, C, 1, L')`` before pooling; L' = 8 for 32 words (14 for 56)."""
        return self.stages(self.embedding_bn(self.embedding(ids)))

    def forward(self, ids: Tensor) -> Tensor:
        # The official [1 x 8] pool covers the whole map; amax keeps that for any length.
        return self.feature_map(ids).amax(dim=(2, 3))
