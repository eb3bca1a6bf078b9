"""Helpers for the encoder tests: small real-looking captions and a network guard."""

from __future__ import annotations

import socket

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


@pytest.fixture
def no_network(monkeypatch):
    """Make every outgoing connection fail, and tell Hugging Face libraries they are offline."""

    def refuse(*args, **kwargs):
        raise OSError("network access attempted during an offline test")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
