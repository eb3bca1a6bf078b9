"""Gradient norms on the shared embedding: each weighted term's, measured without changing the step."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_config

from itr_bench.api import EncoderOutput
from itr_bench.engine.balance import embedding_grad_norms
from itr_bench.engine.run import train_run


def test_norms_are_those_of_each_weighted_term_on_both_embeddings():
    torch.manual_seed(0)
    image = EncoderOutput(torch.randn(4, 3, requires_grad=True), torch.zeros(4, 3))
    text = EncoderOutput(torch.randn(4, 3, requires_grad=True), torch.zeros(4, 3))
    squares = (image.embedding ** 2).sum()  # gradient 2x on the image only
    pull = 0.5 * (image.embedding * text.embedding).sum()  # 0.5 x text on image, 0.5 x image on text
    norms = embedding_grad_norms(image, text, {"squares": squares, "pull": pull}, squares + pull)
    assert norms["squares"] == pytest.approx(float((2 * image.embedding).detach().norm()))
    both = torch.cat([0.5 * text.embedding, 0.5 * image.embedding]).detach()
    assert norms["pull"] == pytest.approx(float(both.norm()))
    assert norms["loss"] == pytest.approx(float(torch.cat([2 * image.embedding + 0.5 * text.embedding,
                                                           0.5 * image.embedding]).detach().norm()))
    assert image.embedding.grad is None  # nothing accumulated
    frozen = EncoderOutput(torch.randn(4, 3), torch.zeros(4, 3))
    assert embedding_grad_norms(frozen, frozen, {"x": torch.tensor(1.0, requires_grad=True)}) == {}


def test_measuring_changes_nothing_in_training(tmp_path, tiny_registry, monkeypatch):
    """The record with gradient norms has the same metrics as one whose trainer measured none."""
    from itr_bench.engine import model

    measured = train_run(tiny_config(tmp_path / "cache"), tiny_registry, tmp_path / "a", progress=False)
    monkeypatch.setattr(model, "embedding_grad_norms", lambda *args, **kwargs: {})
    plain = train_run(tiny_config(tmp_path / "cache"), tiny_registry, tmp_path / "b", progress=False)
    assert plain["stage_start_terms"][1]["grad_norm"] == {} and measured["stage_start_terms"][1]["grad_norm"]
    assert measured["test"] == plain["test"] and measured["history"][-1]["loss"] == plain["history"][-1]["loss"]
    start = measured["stage_start_terms"][1]
    # the weighted total pulls with the vector sum of its terms: never more than their norms' sum
    terms = sum(v for k, v in start["grad_norm"].items() if k != "loss")
    assert start["grad_norm"]["loss"] <= terms + 1e-6
