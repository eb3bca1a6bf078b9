"""Collapse measures: constant, jittered, one-directional and healthy embeddings."""

import pytest
import torch

from itr_bench.metrics.collapse import (
    DUPLICATES_AT,
    EFFECTIVE_RANK_BELOW,
    collapse_measures,
    duplicate_fraction,
    effective_rank,
    is_degenerate,
)


def _random(n, d, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def test_constant_rows_are_one_point():
    x = torch.ones(50, 8)
    assert effective_rank(x) == 0.0 and duplicate_fraction(x) == 1.0
    assert is_degenerate(collapse_measures(x, _random(50, 8)))


def test_a_point_plus_float_noise_is_still_one_point():
    x = torch.ones(200, 32) + 1e-5 * _random(200, 32)
    assert duplicate_fraction(x) == 1.0 and is_degenerate(collapse_measures(_random(200, 32), x))


def test_variation_along_one_direction_has_rank_about_one():
    t = torch.rand(100, generator=torch.Generator().manual_seed(1)) * 0.8 - 0.4
    x = torch.zeros(100, 16)
    x[:, 0], x[:, 1] = 1.0, t  # a short arc: one direction of variation
    assert effective_rank(x) < EFFECTIVE_RANK_BELOW and duplicate_fraction(x) < DUPLICATES_AT  # the rank catches it
    assert is_degenerate(collapse_measures(_random(100, 16), x))
    two = torch.zeros(400, 16)
    two[:, 0], two[:, 1:3] = 1.0, (torch.rand(400, 2, generator=torch.Generator().manual_seed(2)) - 0.5)
    assert effective_rank(two) == pytest.approx(2.0, abs=0.1) and not is_degenerate(collapse_measures(two, two))


def test_healthy_embeddings_are_not_flagged():
    images, texts = _random(500, 64), _random(2500, 64, seed=1)
    measures = collapse_measures(images, texts)
    assert measures["image_effective_rank"] > 40 and measures["text_duplicate_fraction"] == 0.0
    assert is_degenerate(measures) is False
    # a strong common direction (as untrained networks give) is not collapse: only differences rank
    assert effective_rank(images + 20.0) > EFFECTIVE_RANK_BELOW


def test_subsampling_keeps_the_measure_and_unknown_is_none():
    x = _random(10_000, 16)
    assert effective_rank(x, max_rows=2048) == pytest.approx(effective_rank(x, max_rows=10_000), rel=0.05)
    assert is_degenerate(None) is None and is_degenerate({"rsum": 3.0}) is None
