"""The example third-party plugin, installed for real with pip (into a private target folder,
so the test environment is left untouched), then found through its entry point."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "plugins" / "examples" / "itr-bench-circle"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        check=True, capture_output=True, text=True,
    )
    return target


def cli(*args, pythonpath=None, **env):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ITR_BENCH_")}
    environ.update(env)
    if pythonpath:
        environ["PYTHONPATH"] = os.pathsep.join([str(pythonpath), environ.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "itr_bench.cli", *args], capture_output=True, text=True, env=environ)


def test_installed_plugin_shows_in_plugins_and_list(installed_example):
    proc = cli("plugins", "--json", pythonpath=installed_example)
    assert proc.returncode == 0, proc.stderr
    circle = next(p for p in json.loads(proc.stdout) if p["name"] == "circle")
    assert circle == {"name": "circle", "hooks": ["register_losses"], "version": "0.1.0",
                      "distribution": "itr-bench-circle", "builtin": False}
    proc = cli("list", "losses", "--json", pythonpath=installed_example)
    assert ("circle", "circle") in {(c["name"], c["plugin"]) for c in json.loads(proc.stdout)}


def test_load_plugins_env_can_exclude_it(installed_example):
    proc = cli("list", "losses", "--json", pythonpath=installed_example, ITR_BENCH_LOAD_PLUGINS="")
    assert proc.returncode == 0 and "circle" not in {c["name"] for c in json.loads(proc.stdout)}


def test_core_works_without_it():
    proc = cli("list", "losses", "--json")
    assert proc.returncode == 0, proc.stderr
    assert "circle" not in {c["name"] for c in json.loads(proc.stdout)}


def test_example_loss_trains(installed_example, monkeypatch):
    monkeypatch.syspath_prepend(str(installed_example))
    import torch
    import torch.nn.functional as F

    from itr_bench.api import LossContext
    from itr_bench.plugins import get_plugin_manager, load_registry

    registry = load_registry(get_plugin_manager(environ={"ITR_BENCH_LOAD_PLUGINS": "circle"}))
    loss = registry.create("loss", "circle", LossContext(embed_dim=8))
    torch.manual_seed(0)
    image = F.normalize(torch.randn(6, 8), dim=1).requires_grad_()
    text = F.normalize(torch.randn(6, 8), dim=1).requires_grad_()
    terms = loss(image, text, torch.arange(6))
    terms["circle"].backward()
    assert torch.isfinite(terms["circle"]) and terms["circle"] > 0
    assert image.grad.abs().sum() > 0 and torch.isfinite(text.grad).all()


def test_installing_it_does_not_move_an_each_loss_baseline(installed_example, monkeypatch, tmp_path):
    """An each_loss suite that names no baseline compares with the built-in ranking loss, not with
    the first loss by name, which the example's `circle` would become."""
    monkeypatch.syspath_prepend(str(installed_example))
    from itr_bench.plugins import get_plugin_manager, load_registry
    from itr_bench.suites.plan import expand, load_suite

    def plan(load):
        registry = load_registry(get_plugin_manager(environ={"ITR_BENCH_LOAD_PLUGINS": load}))
        data, where = load_suite("loss-shootout", registry)
        assert data["suite"].pop("baseline") == "ranking"  # the committed suite names it; here it is left out
        runs = expand(data, registry, where, tmp_path, seeds=[0])
        return [run.run for run in runs], {run.baseline for run in runs}

    with_circle, baseline = plan("circle")
    without, baseline_without = plan("")
    assert with_circle[0] == "circle" and "circle" not in without  # it would sort first
    assert baseline == baseline_without == {"ranking"}
