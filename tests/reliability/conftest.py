"""Shared for the reliability corpus: the real CLI with the tiny encoders registered."""

from __future__ import annotations

import pytest
from tiny_models import TinyPlugin

from itr_bench.cli import main
from itr_bench.plugins import get_plugin_manager


def _plugin_manager():
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(TinyPlugin(), name="tiny")
    return pm


@pytest.fixture
def cli(monkeypatch, capsys):
    """``cli(*args) -> (exit code, stdout, stderr)`` through the real entry point."""
    monkeypatch.setattr("itr_bench.cli.get_plugin_manager", _plugin_manager)

    def run(*args):
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
