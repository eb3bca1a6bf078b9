"""The commands that only read the plugins start without torch (benchmarks/cli_startup.py times them).

Listing plugins and components imports every plugin and calls its ``register_*`` hooks, so a
plugin module that imports torch (or a factory's module) makes them all as slow as ``import torch``.
"""

import subprocess
import sys

import pytest

import itr_bench
from itr_bench.lazy_import import LazyFactory

HEAVY = ("torch", "numpy", "pandas")


def heavy_modules_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter has imported after running ``code``."""
    check = f"{code}\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return [m for m in out.stdout.rstrip("\n").rpartition("\n")[2].split(",") if m]


@pytest.mark.parametrize("args", [["--help"], ["plugins"], ["list"], ["list", "losses", "--json"]])
def test_reading_commands_do_not_import_torch(args):
    code = f"from itr_bench.cli import main\nassert main({args!r}) == 0"
    assert "torch" not in heavy_modules_after(code)


def test_core_modules_import_no_torch_numpy_or_pandas():
    code = "import itr_bench, itr_bench.registry, itr_bench.plugins, itr_bench.errors, itr_bench.cli"
    assert heavy_modules_after(code) == []


def test_building_a_lazy_component_imports_its_module(registry):
    info = registry.get("loss", "infonce")
    assert isinstance(info.factory, LazyFactory)
    assert info.as_dict()["factory"] == "itr_bench_losses.infonce.InfoNCELoss"
    from itr_bench.api import LossContext

    loss = info.create(LossContext(embed_dim=4, num_instances=3))
    assert type(loss).__name__ == "InfoNCELoss"


def test_lazy_factory_reads_like_its_target():
    import inspect
    import pickle
    import textwrap

    factory = itr_bench.lazy("textwrap:shorten")
    assert (factory.__module__, factory.__qualname__) == ("textwrap", "shorten")
    assert inspect.signature(factory) == inspect.signature(textwrap.shorten)  # option checks read it
    assert factory.__doc__ == textwrap.shorten.__doc__
    assert factory("a b c d", width=5) == textwrap.shorten("a b c d", width=5)
    assert pickle.loads(pickle.dumps(factory)).resolve() is textwrap.shorten
    assert itr_bench.lazy(".abc:Mapping", "collections").target == "collections.abc:Mapping"
    with pytest.raises(ValueError, match="package.module:attribute"):
        itr_bench.lazy("textwrap.shorten")
