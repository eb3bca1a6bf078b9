"""Every registered loss, built-in or third-party: finite values and gradients, declared contract."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from itr_bench.api import Gathering, Inputs, Loss, LossContext
from itr_bench.errors import ItrBenchError

DIM, CLASSES = 16, 10


def build(all_losses, name):
    torch.manual_seed(0)
    return all_losses.create("loss", name, LossContext(embed_dim=DIM, num_instances=CLASSES))


def inputs(loss, batch, ids, seed=0):
    generator = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, DIM, generator=generator, requires_grad=True)
    text = torch.randn(batch, DIM, generator=generator, requires_grad=True)
    if loss.inputs is Inputs.NORMALIZED:
        return image, text, F.normalize(image, dim=1), F.normalize(text, dim=1), ids
    return image, text, image, text, ids


def assert_finite_forward_backward(loss, batch, ids):
    leaf_image, leaf_text, image, text, ids = inputs(loss, batch, ids)
    terms = loss(image, text, ids)
    assert terms and all(isinstance(k, str) for k in terms)
    for name, value in terms.items():
        assert value.dim() == 0 and torch.isfinite(value), f"term {name} = {value}"
    sum(terms.values()).backward()
    for tensor in (leaf_image, leaf_text, *loss.parameters()):
        if tensor.grad is not None:
            assert torch.isfinite(tensor.grad).all()
    return leaf_image, leaf_text


def test_declares_its_contract(all_losses, loss_name):
    info = all_losses.get("loss", loss_name)
    loss = build(all_losses, loss_name)
    assert isinstance(loss, Loss)
    assert Inputs(loss.inputs) in Inputs and Gathering(loss.gathering) in Gathering
    assert info.description
    if info.plugin == "itr_bench_losses":  # the built-ins document what a benchmark must report
        doc = type(loss).__doc__
        for section in ("Reference", "Defaults", "Terms", "Data parallel"):
            assert f"{section}:" in doc, f"{type(loss).__name__} docstring lacks {section!r}"


def test_finite_values_and_gradients(all_losses, loss_name):
    loss = build(all_losses, loss_name)
    image, text = assert_finite_forward_backward(loss, 8, torch.tensor([0, 1, 2, 3, 4, 1, 6, 7]))
    assert image.grad.abs().sum() > 0 or text.grad.abs().sum() > 0, "the loss does not train the encoders"


def test_a_batch_of_one_instance(all_losses, loss_name):
    loss = build(all_losses, loss_name)
    assert_finite_forward_backward(loss, 8, torch.full((8,), 3))


def test_batch_size_one_is_finite_or_a_clear_error(all_losses, loss_name):
    loss = build(all_losses, loss_name)
    try:
        assert_finite_forward_backward(loss, 1, torch.tensor([2]))
    except ItrBenchError as exc:  # e.g. the paper's ranking form needs anchor + negative
        assert "\n" not in str(exc)


def test_float32_inputs(all_losses, loss_name):
    loss = build(all_losses, loss_name)
    assert loss(*inputs(loss, 4, torch.arange(4))[2:])  # parameters and inputs in the default dtype
