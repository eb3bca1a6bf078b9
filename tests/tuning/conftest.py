"""Fixtures of the tuning tests: a prepared-data cache, the CLI, a subprocess script."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tiny_tune import SCRIPT, plugin_manager

from itr_bench.cli import main


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def cli(monkeypatch, capsys):
    """``cli(*args, plugins=()) -> (exit code, stdout, stderr)`` through the real entry point."""

    def run(*args, plugins=()):
        monkeypatch.setattr("itr_bench.cli.get_plugin_manager", lambda: plugin_manager(*plugins))
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def script(tmp_path):
    """A Python file that runs the CLI with the tiny encoders, for subprocesses."""
    support = Path(__file__).resolve().parents[1] / "support"
    path = tmp_path / "itr_bench_tiny.py"
    path.write_text(SCRIPT.format(paths=[str(support), *sys.path]))
    return path
