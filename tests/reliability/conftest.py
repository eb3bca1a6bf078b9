"""Shared for the reliability corpus: the real CLI with the tiny encoders registered."""

from __future__ import annotations

import pytest
from tiny_cli import cli_runner


@pytest.fixture
def cli(monkeypatch, capsys):
    """``cli(*args) -> (exit code, stdout, stderr)`` through the real entry point."""
    return cli_runner(monkeypatch, capsys)
