"""docs/tutorial-loss-plugin.md, every step for real: scaffold with the CLI, pip install (into a private
target folder, so the test environment is untouched), run the generated tests, see the plugin in
`itr-bench plugins` / `list`, run the tutorial's suite through the CLI, find the leaderboard row."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from itr_bench.cli import main

REPO = Path(__file__).resolve().parents[2]
TUTORIAL = REPO / "docs" / "tutorial-loss-plugin.md"

#: Tiny data and model for CI; the tutorial's suite keeps its own runs, losses and schedule.
TINY = [
    "--seeds", "0",
    "--set", 'dataset_options={"train": 32, "val": 16, "test": 16, "image_size": 16}',
    "--set", "image_size=16",
    "--set", "batch_size=16",
    "--set", "device=cpu",
    "--set", 'image_options={"backbone": "resnet18", "width": 0.0625}',
    "--set", 'text_options={"width": 0.0625, "blocks": [1, 1, 1, 1], "word2vec_epochs": 1, "word2vec_min_count": 1}',
]


def run(*args, site=None, cwd=None, check=True):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ITR_BENCH_")}
    if site is not None:
        environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), environ.get("PYTHONPATH", "")) if p)
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=environ, cwd=cwd,
                          check=False)
    if check:
        assert proc.returncode == 0, f"{args} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def scaffold_and_install(tmp_path, *args):
    """`itr-bench new-plugin ...` then `pip install` of the result; returns (folder, site)."""
    run("-m", "itr_bench.cli", "new-plugin", *args, "--dir", str(tmp_path))
    folder = tmp_path / f"itr-bench-{args[1]}"
    site = tmp_path / "site"
    run("-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), str(folder))
    return folder, site


def tutorial_suite() -> str:
    text = TUTORIAL.read_text()
    match = re.search(r"<!-- tutorial-suite:[^\n]*-->\n```toml\n(.*?)```", text, flags=re.DOTALL)
    assert match, "the tutorial's suite block (after the tutorial-suite marker) is missing"
    return match.group(1)


def test_the_tutorials_suite_keeps_the_new_loss_and_one_reference(registry):
    suite = tomllib.loads(tutorial_suite())
    (entry,) = suite["runs"]
    assert entry["each_loss"] and set(registry.names("loss")) - set(entry["skip_losses"]) == {"infonce"}
    assert "itr-bench run my-shootout.toml --store runs" in TUTORIAL.read_text()


def test_the_hand_written_loss_and_its_pyproject_work(pm, register_plugin):
    import types

    from itr_bench.plugins import load_registry
    from itr_bench.testing import check_loss

    text = TUTORIAL.read_text()
    (source,) = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL) if "register_losses" in b]
    assert len([line for line in source.splitlines() if line.strip()]) <= 25, "the tutorial promises about 20 lines"
    module = types.ModuleType("itr_bench_my_hinge")
    exec(compile(source, str(TUTORIAL), "exec"), module.__dict__)  # noqa: S102 - the tutorial's own code
    register_plugin(module, "my-hinge")
    check_loss(load_registry(pm), "my-hinge")
    (pyproject,) = [b for b in re.findall(r"```toml\n(.*?)```", text, flags=re.DOTALL) if "entry-points" in b]
    assert tomllib.loads(pyproject)["project"]["entry-points"]["itr_bench"] == {"my-hinge": "itr_bench_my_hinge"}


@pytest.mark.slow
def test_every_step_of_the_tutorial(tmp_path):
    folder, site = scaffold_and_install(tmp_path, "loss", "my-hinge")

    tests = run("-m", "pytest", "-q", "-p", "no:cacheprovider", site=site, cwd=folder)
    assert re.search(r"\b5 passed\b", tests.stdout), tests.stdout

    plugins = json.loads(run("-m", "itr_bench.cli", "plugins", "--json", site=site).stdout)
    assert {"name": "my-hinge", "hooks": ["register_losses"], "version": "0.1.0",
            "distribution": "itr-bench-my-hinge", "builtin": False} in plugins
    losses = json.loads(run("-m", "itr_bench.cli", "list", "losses", "--json", site=site).stdout)
    assert ("my-hinge", "my-hinge") in {(c["name"], c["plugin"]) for c in losses}

    suite = tmp_path / "my-shootout.toml"
    one_epoch, count = re.subn(r"epochs = \d+, lr = ([0-9.]+), lr_steps = \[\d+\]", r"epochs = 1, lr = \1",
                               tutorial_suite())
    assert count == 1, "the tutorial suite's stage no longer reads 'epochs = N, lr = X, lr_steps = [M]'"
    suite.write_text(one_epoch)
    store = tmp_path / "runs"
    run("-m", "itr_bench.cli", "run", str(suite), "--store", str(store), "--no-progress", *TINY, site=site)

    board = pd.read_csv(store / "my-shootout" / "leaderboard" / "my-shootout__synthetic.csv")
    assert sorted(board["run"]) == ["infonce", "my-hinge"]
    row = board.set_index("run").loc["my-hinge"]
    assert row["objective"] == "my-hinge(1)@normalized 1ep" and row["n"] == 1 and 0 <= row["rsum"] <= 600


@pytest.mark.slow
def test_the_other_scaffolds_pass_their_own_tests_after_pip_install(tmp_path):
    """dataset, image encoder, text encoder: one pip install and one pytest run for the three."""
    kinds = [("dataset", "my-data"), ("encoder", "my-cnn"), ("encoder", "my-bag", "--modality", "text")]
    for args in kinds:  # in-process: the tutorial test already runs new-plugin as a subprocess
        assert main(["new-plugin", *args, "--dir", str(tmp_path)]) == 0
    folders = [str(tmp_path / f"itr-bench-{args[1]}") for args in kinds]
    site = tmp_path / "site"
    run("-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), *folders)
    tests = run("-m", "pytest", "-q", "-p", "no:cacheprovider", *folders, site=site, cwd=tmp_path)
    assert re.search(r"\b13 passed\b", tests.stdout), tests.stdout
