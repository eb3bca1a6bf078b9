"""The real command line, in this process, with the tiny encoders registered (test support)."""

from __future__ import annotations

from collections.abc import Callable

from tiny_models import TinyPlugin

from itr_bench.cli import main
from itr_bench.plugins import get_plugin_manager


def tiny_plugin_manager(*plugins: tuple[object, str], entrypoints: bool = False):
    """The built-ins, the tiny encoders and ``(plugin, name)`` pairs; installed plugins only with ``entrypoints``."""
    pm = get_plugin_manager(load_entrypoints=entrypoints)
    pm.register(TinyPlugin(), name="tiny")
    for plugin, name in plugins:
        pm.register(plugin, name=name)
    return pm


def cli_runner(monkeypatch, capsys, plugin_manager: Callable[[], object] = tiny_plugin_manager
               ) -> Callable[..., tuple[int, str, str]]:
    """``run(*args) -> (exit code, stdout, stderr)`` through the real entry point, whose plugin
    manager is ``plugin_manager()`` (for a ``cli`` fixture: ``return cli_runner(monkeypatch, capsys)``)."""
    monkeypatch.setattr("itr_bench.cli.get_plugin_manager", plugin_manager)

    def run(*args: object) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run
