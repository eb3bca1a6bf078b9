"""Tracker fixtures: the tiny encoders of tests/support/tiny_models.py and a short tiny run."""

import pytest
from tiny_models import TinyPlugin, tiny_config

from itr_bench.plugins import load_registry


@pytest.fixture
def tiny_registry(pm, register_plugin):
    register_plugin(TinyPlugin(), "tiny")
    return load_registry(pm)


def short_config(cache_dir, **overrides):
    """Two epochs of 4 steps each (64 pairs, batch 16): ranking (with its hinge diagnostics) and InfoNCE's
    learnable temperature, so every kind of training scalar is sent."""
    stages = [{"epochs": 2, "losses": {"ranking": 1.0, "infonce": 1.0}, "lr": 0.05}]
    return tiny_config(cache_dir, stages=stages, loss_options={"ranking": {"form": "vsepp-sum"}}, **overrides)
