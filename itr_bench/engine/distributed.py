"""Losses under data parallelism: gathering with gradients, and the rule that keeps them exact.

Each process holds a shard of the global batch; DDP *averages* parameter gradients over the W
processes. A loss's terms on process r, L_r, are therefore right when

    mean_r L_r == L(global batch)   and   mean_r grad L_r == grad L(global batch).

:func:`distributed_loss_terms` makes that hold, by the loss's ``gathering`` declaration:

* ``Gathering.GATHERED``: image and text are gathered from every process *with gradients*
  (:func:`gather_with_grad`, whose backward sums the gradient every process computed for a row)
  and the loss is computed on the global batch on every process. Each process then sends W times
  the true gradient into its own rows, and DDP's average divides it back: exact for any
  reduction. The loss's own parameters (a temperature) get the true gradient on every process.
* ``Gathering.LOCAL``: the loss is computed on the local shard only. For a mean-reduced loss
  (``loss.reduction == "mean"``, the default) DDP's average over equal shards is already the
  global mean. A *sum*-reduced loss (``reduction == "sum"``) is the sum of the shards' sums, so
  its terms are multiplied by W; otherwise its gradients come out W times too small.

Peers shipped gradients off by exactly W (docs/fair-benchmark.md, "Gradients under data parallelism"): gathering without gradients (W times
too small), scaling a gathered loss by W once more (W times too large), or leaving a summed
LOCAL loss unscaled; tests/losses/test_losses_distributed.py catches each of these.

The loss's own parameters (W_share, a temperature) must be averaged like the model's: keep the
loss modules inside the DDP-wrapped module (or all-reduce their gradients / W). Shards are assumed
equal in size for LOCAL mean losses (DistributedSampler pads); :func:`gather_with_grad` itself
accepts unequal shards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from ..api import Gathering, Loss
from ..errors import ItrBenchError
from ..loss_contract import gathering_of

#: ``loss.reduction`` values the LOCAL rule understands.
LOCAL_REDUCTIONS = ("mean", "sum")


@dataclass(frozen=True)
class WorldInfo:
    """This process's place among the data-parallel processes."""

    rank: int = 0
    size: int = 1

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world_info() -> WorldInfo:
    """Rank and world size of the default process group, or (0, 1) when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return WorldInfo(rank=dist.get_rank(), size=dist.get_world_size())
    return WorldInfo()


def _shard_sizes(tensor: Tensor, world: WorldInfo) -> list[int]:
    size = torch.tensor([tensor.shape[0]], device=tensor.device)
    sizes = [torch.zeros_like(size) for _ in range(world.size)]
    dist.all_gather(sizes, size)
    return [int(s) for s in sizes]


def _gather_rows(tensor: Tensor, world: WorldInfo) -> tuple[Tensor, list[int]]:
    """All processes' rows concatenated in rank order (shards may differ in length)."""
    tensor = tensor.contiguous()
    sizes = _shard_sizes(tensor, world)
    longest = max(sizes)
    padded = tensor
    if tensor.shape[0] < longest:
        padding = tensor.new_zeros((longest - tensor.shape[0], *tensor.shape[1:]))
        padded = torch.cat([tensor, padding])
    parts = [torch.empty_like(padded) for _ in range(world.size)]
    dist.all_gather(parts, padded)
    return torch.cat([part[:n] for part, n in zip(parts, sizes)]), sizes


class _GatherWithGrad(torch.autograd.Function):
    """Forward: all-gather rows. Backward: sum every process's gradient, keep this shard's rows."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor) -> Tensor:
        world = world_info()
        gathered, sizes = _gather_rows(tensor, world)
        ctx.start = sum(sizes[: world.rank])
        ctx.stop = ctx.start + sizes[world.rank]
        return gathered

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.start : ctx.stop]


def gather_with_grad(tensor: Tensor) -> Tensor:
    """``(sum_r B_r, ...)``: every process's rows in rank order; gradients flow back to each
    process's own rows (summed over processes). The identity when not distributed."""
    if not world_info().distributed:
        return tensor
    return _GatherWithGrad.apply(tensor)


def gather(tensor: Tensor) -> Tensor:
    """Every process's rows in rank order, without gradients (instance ids, labels)."""
    world = world_info()
    if not world.distributed:
        return tensor
    return _gather_rows(tensor.detach(), world)[0]


def local_reduction(loss: Loss) -> str:
    """How a LOCAL loss combines its samples: ``loss.reduction`` (``"mean"`` when undeclared)."""
    reduction = getattr(loss, "reduction", "mean")
    if reduction not in LOCAL_REDUCTIONS:
        raise ItrBenchError(
            f"{type(loss).__name__} declares Gathering.LOCAL with reduction={reduction!r}; "
            f"data parallelism needs one of {', '.join(LOCAL_REDUCTIONS)}"
        )
    return reduction


def distributed_loss_terms(
    loss: Loss, image: Tensor, text: Tensor, instance_ids: Tensor, **options: Any
) -> dict[str, Tensor]:
    """The loss's terms on this process's shard, such that DDP's gradient average is exact.

    Call it wherever a single process would call ``loss(image, text, instance_ids)``; extra
    keyword ``options`` are passed to the loss. Not distributed: exactly that call.
    """
    world = world_info()
    if not world.distributed:
        return loss(image, text, instance_ids, **options)
    if gathering_of(loss) is Gathering.GATHERED:
        return loss(gather_with_grad(image), gather_with_grad(text), gather(instance_ids), **options)
    terms = loss(image, text, instance_ids, **options)
    if local_reduction(loss) == "sum":
        terms = {name: value * world.size for name, value in terms.items()}
    return terms


def mean_across_processes(terms: dict[str, Tensor]) -> dict[str, Tensor]:
    """Detached terms averaged over processes: the global-batch value of each term (for logs)."""
    world = world_info()
    values = {name: value.detach().clone() for name, value in terms.items()}
    if world.distributed:
        for value in values.values():
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
            value /= world.size
    return values
