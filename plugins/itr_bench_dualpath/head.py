"""The paper's embedding head, shared by both paths, and its initialisation.

Image path (``fc1 -> BN -> ReLU -> fc1_1 -> BN -> ReLU -> Dropout``) and text path
(``fc5_2 -> BN -> ReLU -> Dropout``) end the same way: the last BN output is the retrieval
embedding (``fc1_1bn`` / ``fc5_2bn``, L2-normalised by the engine), and its ReLU + dropout
is what the shared instance classifier sees.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from itr_bench.api import EncoderContext, EncoderOutput
from itr_bench.errors import ItrBenchError

#: MatConvNet's BatchNorm epsilon in the official builders (``BatchNorm.m``).
BN_EPS = 1e-3
#: Used when neither the options nor the dataset hints set a dropout rate. The paper uses
#: 0.75 (Flickr30k), 0.5 (MSCOCO) and 0.8 (CUHK-PEDES); datasets pass theirs as hints.
DEFAULT_DROPOUT = 0.5


class PaperHead(nn.Module):
    """``[fc -> BN -> ReLU] * len(hidden) -> fc -> BN`` (embedding), then ReLU + dropout (features)."""

    def __init__(
        self, in_dim: int, out_dim: int, hidden: Sequence[int] = (), dropout: float = DEFAULT_DROPOUT
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [
                nn.Linear(in_dim, width, bias=False),
                nn.BatchNorm1d(width, eps=BN_EPS),
                nn.ReLU(inplace=True),
            ]
            in_dim = width
        layers += [nn.Linear(in_dim, out_dim, bias=False), nn.BatchNorm1d(out_dim, eps=BN_EPS)]
        self.embed = nn.Sequential(*layers)
        self.classifier_input = nn.Sequential(nn.ReLU(), nn.Dropout(dropout))
        self.out_dim = out_dim
        self.dropout = dropout
        he_init(self)

    def forward(self, x: Tensor) -> EncoderOutput:
        embedding = self.embed(x)
        return EncoderOutput(embedding=embedding, features=self.classifier_input(embedding))

    def features_view(self) -> str:
        """The classifier input, stated for records: ``ReLU + dropout 0.75``."""
        return f"ReLU + dropout {self.dropout:g}"


def he_init(module: nn.Module) -> None:
    """MatConvNet's init (``Conv.m``, ``BatchNorm.m``): He-normal std sqrt(2/(kh*kw*cin)), zero biases, BN 1/0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def resolve_dropout(context: EncoderContext, dropout: float | None, owner: str) -> float:
    """The drop probability: the option, else the dataset's hint, else :data:`DEFAULT_DROPOUT`."""
    rate = dropout if dropout is not None else context.hints.get("dropout", DEFAULT_DROPOUT)
    if not 0.0 <= float(rate) < 1.0:
        raise ItrBenchError(f"{owner}: dropout must be in [0, 1), got {rate!r}")
    return float(rate)


def scaled(channels: int, width: float) -> int:
    """``channels * width`` rounded, at least 1: the width knob of both paths."""
    return max(1, round(channels * width))
