"""Fixtures shared by every test: fresh plugin managers, no global state, real data when present."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from itr_bench.plugins import get_plugin_manager, load_registry

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def pm():
    """A fresh plugin manager with the built-ins only (no third-party entry points)."""
    return get_plugin_manager(load_entrypoints=False)


@pytest.fixture
def registry(pm):
    """The registry the built-in plugins produce."""
    return load_registry(pm)


@pytest.fixture
def register_plugin(pm):
    """Register an inline plugin object on ``pm`` for one test; unregistered afterwards."""
    names = []

    def _register(plugin, name):
        pm.register(plugin, name=name)
        names.append(name)
        return plugin

    yield _register
    for name in names:
        pm.unregister(name=name)


@pytest.fixture
def no_network(monkeypatch):
    """Make every outgoing network connection fail, and tell Hugging Face libraries they are offline.

    Local (AF_UNIX) connections stay allowed: DataLoader workers pass tensors to each other
    through them, and they never leave the machine.
    """
    connect = socket.socket.connect

    def refuse(*args, **kwargs):
        raise OSError("network access attempted during an offline test")

    def connect_locally_only(sock, *args, **kwargs):
        if sock.family == getattr(socket, "AF_UNIX", None):
            return connect(sock, *args, **kwargs)
        refuse()

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", connect_locally_only)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face hub cache for this test (and its subprocesses), torch hub beside it.

    Plant files in it with ``planted_weights.plant_timm_weights`` (tests/support).
    """
    import huggingface_hub.constants as hub_constants

    cache = tmp_path / "hf-hub"
    cache.mkdir()
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    return cache


def pytest_generate_tests(metafunc):
    """A test asking for ``loss_name`` runs once per registered loss, third-party ones included."""
    if "loss_name" in metafunc.fixturenames:
        metafunc.parametrize("loss_name", load_registry(get_plugin_manager()).names("loss"))


@pytest.fixture(scope="session")
def all_losses():
    """The registry of every installed plugin (built-ins and entry points), for loss-wide tests."""
    return load_registry(get_plugin_manager())


def _shared_datasets() -> Path | None:
    env = os.environ.get("ITR_BENCH_SHARED_DATASETS")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "datasets"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The real datasets folder (../shared/datasets); tests using it skip when it is absent."""
    path = _shared_datasets()
    if path is None:
        pytest.skip("real datasets not available (../shared/datasets or $ITR_BENCH_SHARED_DATASETS)")
    return path
