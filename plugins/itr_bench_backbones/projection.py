"""A linear map to the run's common embedding size, only where a backbone's width differs."""

from __future__ import annotations

from torch import nn

from itr_bench.errors import ItrBenchError


def projection(width: int, embed_dim: int | None) -> tuple[nn.Module, int]:
    """The projection ``width -> embed_dim`` (identity when they agree or no size is set) and its output width."""
    if embed_dim is None or embed_dim == width:
        return nn.Identity(), width
    if embed_dim <= 0:
        raise ItrBenchError(f"embed_dim must be positive, got {embed_dim}")
    return nn.Linear(width, embed_dim), embed_dim
