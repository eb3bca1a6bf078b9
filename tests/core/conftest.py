"""Fake entry points for the core tests, made by replacing importlib.metadata.distributions
(the technique of pluggy's own tests); the real install is in test_example_plugin.py."""

import importlib.metadata
import types

import pytest

import itr_bench


class FakeEntryPoint:
    group = "itr_bench"

    def __init__(self, name, plugin):
        self.name, self.value, self._plugin = name, f"{name}_module", plugin

    def load(self):
        if isinstance(self._plugin, Exception):
            raise self._plugin
        return self._plugin


class FakeDistribution:
    def __init__(self, name, version, entry_points):
        self.metadata = {"name": name}
        self.version = version
        self.entry_points = entry_points


@pytest.fixture
def fake_entry_points(monkeypatch):
    """Install fake distributions: each (dist name, version, entry point name, plugin)."""

    def install(*specs):
        dists = [FakeDistribution(d, v, [FakeEntryPoint(ep, plugin)]) for d, v, ep, plugin in specs]
        monkeypatch.setattr(importlib.metadata, "distributions", lambda: iter(dists))

    return install


@pytest.fixture
def loss_plugin():
    """``loss_plugin(module_name, *loss_names)``: a module-style plugin registering those losses."""

    def make(module_name, *loss_names):
        module = types.ModuleType(module_name)

        @itr_bench.hookimpl
        def register_losses(register):
            for name in loss_names:
                register(name, lambda context, name=name: name, description=f"{name} from {module_name}")

        module.register_losses = register_losses
        return module

    return make
