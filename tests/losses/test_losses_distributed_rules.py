"""The data-parallel helpers in one process: identities, and the rule's refusal of unknown reductions."""

from __future__ import annotations

import pytest
import torch

from itr_bench.api import Gathering, Inputs, Loss, LossContext
from itr_bench.engine.distributed import (
    WorldInfo,
    distributed_loss_terms,
    gather,
    gather_with_grad,
    local_reduction,
    mean_across_processes,
    world_info,
)
from itr_bench.errors import ItrBenchError


class _SumOfSquares(Loss):
    """A LOCAL test loss whose reduction is set per test."""

    inputs = Inputs.FEATURES
    gathering = Gathering.LOCAL

    def __init__(self, reduction=None):
        super().__init__()
        if reduction is not None:
            self.reduction = reduction

    def compute(self, image, text, instance_ids):
        return {"squares": (image**2).sum() + (text**2).sum()}


def test_world_info_without_a_process_group():
    assert world_info() == WorldInfo(rank=0, size=1)
    assert not world_info().distributed


def test_gathers_are_identities_in_one_process():
    x = torch.randn(3, 4, requires_grad=True)
    assert gather_with_grad(x) is x
    assert gather(x) is x


def test_one_process_calls_the_loss_unchanged(registry):
    loss = registry.create("loss", "infonce", LossContext(embed_dim=4))
    x, y, ids = (
        torch.nn.functional.normalize(torch.randn(5, 4)),
        torch.nn.functional.normalize(torch.randn(5, 4)),
        torch.arange(5),
    )
    expected = loss(x, y, ids)
    actual = distributed_loss_terms(loss, x, y, ids)
    assert actual.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key])
    assert mean_across_processes(actual)["infonce_i2t"].requires_grad is False


@pytest.mark.parametrize("reduction, expected", [(None, "mean"), ("mean", "mean"), ("sum", "sum")])
def test_local_reduction_reads_the_loss(reduction, expected):
    assert local_reduction(_SumOfSquares(reduction)) == expected


def test_local_reduction_refuses_what_it_cannot_scale():
    with pytest.raises(ItrBenchError, match="reduction='mean_nonzero'"):
        local_reduction(_SumOfSquares("mean_nonzero"))


def test_every_builtin_local_loss_declares_a_usable_reduction(registry):
    for info in registry.list("loss"):
        loss = info.create(LossContext(embed_dim=4, num_instances=4))
        if Gathering(loss.gathering) is Gathering.LOCAL:
            local_reduction(loss)
