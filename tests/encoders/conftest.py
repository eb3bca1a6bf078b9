"""Helpers for the encoder tests: small real-looking captions (the network guard is in tests/conftest.py)."""

from __future__ import annotations

import pytest

CAPTIONS = (
    "A dog runs on the grass .",
    "Two people sit on a bench near the water",
    "A man (in red) rides a bike down a hill",
    "A little girl in a pink dress is climbing stairs",
    "Two dogs play with a ball on the beach",
    "A man rides a bike on a dirt road",
)


@pytest.fixture
def captions() -> tuple[str, ...]:
    return CAPTIONS * 3
