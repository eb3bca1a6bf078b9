"""A tiny two-loss suite with a [tune] table, and the tiny encoders' plugin manager (test support for tests/tuning)."""

from __future__ import annotations

from pathlib import Path

from tiny_models import TinyPlugin

from itr_bench.plugins import get_plugin_manager

SUITE = """
[suite]
name = "mini"
datasets = ["synthetic"]
seeds = [0, 1]

[defaults]
image_encoder = "tiny-image"
text_encoder = "tiny-text"
image_size = 16
batch_size = 16
device = "cpu"
cache_dir = "{cache}"
negatives = "random"
dataset_options = {{ train = 48, val = 16, test = 16, image_size = 16 }}

[[runs]]
name = "infonce"
stages = [{{ epochs = {epochs}, losses = {{ infonce = 1.0 }} }}]

[[runs]]
name = "{second}"
stages = [{{ epochs = {epochs}, losses = {{ {second} = 1.0 }} }}]

[tune]
trials = {trials}
seed = {seed}
{tune}
[tune.space]
"stages.0.lr" = {{ low = 0.01, high = 0.2, log = true }}
{space}
"""

#: The CLI in a subprocess with the tiny encoders (and any extra plugin module) registered.
SCRIPT = """
import sys
sys.path[:0] = {paths!r}
from itr_bench import cli
from itr_bench.plugins import get_plugin_manager
from tiny_models import TinyPlugin

def manager():
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(TinyPlugin(), name="tiny")
    return pm

cli.get_plugin_manager = manager
sys.exit(cli.main(sys.argv[1:]))
"""


def write_suite(path: Path, cache: Path, *, trials: int = 2, second: str = "triplet", tune: str = "",
                space: str = "", epochs: int = 1, seed: str = "100") -> Path:
    path.write_text(SUITE.format(cache=cache, trials=trials, second=second, tune=tune, space=space, epochs=epochs,
                                 seed=seed))
    return path


def plugin_manager(*extra):
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(TinyPlugin(), name="tiny")
    for index, plugin in enumerate(extra):
        pm.register(plugin, name=f"extra-{index}")
    return pm


def one_line(err: str, prefix: str = "itr-bench: error: ") -> str:
    lines = [line for line in err.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]
