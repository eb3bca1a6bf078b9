"""Tracker fixtures: a registry with the tiny encoders of tests/support/tiny_models.py."""

import pytest
from tiny_models import TinyPlugin

from itr_bench.plugins import load_registry


@pytest.fixture
def tiny_registry(pm, register_plugin):
    register_plugin(TinyPlugin(), "tiny")
    return load_registry(pm)
