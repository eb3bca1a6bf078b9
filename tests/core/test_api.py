"""The contracts: input validation shared by every loss, encoder output views."""

import re

import pytest
import torch

from itr_bench.api import EncoderOutput, Loss, as_encoder_output
from itr_bench.errors import ItrBenchError


class Dot(Loss):
    """Negative mean cosine of the pairs."""

    def compute(self, image, text, instance_ids):
        return {"dot": -(image * text).sum(1).mean()}


class NotScalar(Loss):
    def compute(self, image, text, instance_ids):
        return {"bad": image.sum(1)}


def good():
    return torch.randn(4, 3), torch.randn(4, 3), torch.arange(4)


def test_valid_inputs_reach_compute():
    image, text, ids = good()
    assert set(Dot()(image, text, ids)) == {"dot"}


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda i, t, d: (i[0], t, d), "expected (B, D)"),
        (lambda i, t, d: (i, t[:3], d), "differ in shape"),
        (lambda i, t, d: (i, t, d[:3]), "instance_ids has shape"),
        (lambda i, t, d: (i, t, d.float()), "must be integers"),
        (lambda i, t, d: (i.index_fill(0, torch.tensor([1]), float("nan")), t, d), "NaN or inf"),
        (lambda i, t, d: (i, t.index_fill(0, torch.tensor([0]), float("inf")), d), "NaN or inf"),
    ],
)
def test_bad_inputs_give_a_clear_error(change, message):
    with pytest.raises(ItrBenchError, match=re.escape(message)):
        Dot()(*change(*good()))


def test_terms_must_be_scalars():
    with pytest.raises(ItrBenchError, match="term 'bad' is not a scalar"):
        NotScalar()(*good())


def test_encoder_output_views():
    x = torch.randn(2, 3)
    assert as_encoder_output(x) == (x, x)
    out = EncoderOutput(x, x.relu())
    assert as_encoder_output(out) is out
