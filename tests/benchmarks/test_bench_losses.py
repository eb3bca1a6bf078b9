"""Forward + backward time of every registered loss on CPU (run: pytest tests/benchmarks --benchmark-only)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from itr_bench.api import Inputs, LossContext

DIM = 512
#: Flickr30k's training images: the class count of the classifier losses at the common sizes.
FLICKR_INSTANCES = 29_783
#: MSCOCO's training images (the paper's split) and the paper's image-path width.
COCO_INSTANCES, PAPER_DIM = 113_287, 2048


def forward_backward_step(loss, batch, dim, num_instances):
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(batch, dim, generator=generator, requires_grad=True)
    text = torch.randn(batch, dim, generator=generator, requires_grad=True)
    ids = torch.randint(0, num_instances, (batch,), generator=generator)

    def step():
        x, y = image, text
        if loss.inputs is Inputs.NORMALIZED:
            x, y = F.normalize(image, dim=1), F.normalize(text, dim=1)
        total = sum(loss(x, y, ids).values())
        total.backward()
        return total

    return step


@pytest.mark.parametrize("batch", [128, 1024])
def test_forward_backward(benchmark, all_losses, loss_name, batch):
    torch.manual_seed(0)
    loss = all_losses.create("loss", loss_name, LossContext(embed_dim=DIM, num_instances=FLICKR_INSTANCES))
    benchmark.group = f"losses, batch {batch}, D={DIM}, CPU"
    benchmark.extra_info.update(
        batch=batch, dim=DIM, num_instances=FLICKR_INSTANCES, threads=torch.get_num_threads()
    )
    result = benchmark.pedantic(
        forward_backward_step(loss, batch, DIM, FLICKR_INSTANCES),
        rounds=10 if batch > 128 else 30,
        warmup_rounds=1,
    )
    assert torch.isfinite(result)


def test_instance_at_coco_scale(benchmark, all_losses):
    """The paper's COCO classifier: 113,287 classes x 2048, batch 128 (W_share alone is 0.93 GB)."""
    torch.manual_seed(0)
    loss = all_losses.create(
        "loss", "instance", LossContext(embed_dim=PAPER_DIM, num_instances=COCO_INSTANCES), bias=False
    )
    benchmark.group = f"instance, {COCO_INSTANCES} classes, D={PAPER_DIM}, batch 128, CPU"
    benchmark.extra_info.update(
        batch=128, dim=PAPER_DIM, num_instances=COCO_INSTANCES, threads=torch.get_num_threads()
    )
    result = benchmark.pedantic(
        forward_backward_step(loss, 128, PAPER_DIM, COCO_INSTANCES), rounds=5, warmup_rounds=1
    )
    assert torch.isfinite(result)
