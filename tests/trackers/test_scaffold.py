"""A third-party tracker from ``itr-bench new-plugin tracker``: its generated tests pass after a pip
install, it passes the kit's ``check_tracker``, and a run reports to it through ``report_to``."""

import csv
import importlib.util
import os
import re
import subprocess
import sys

import pytest
from tracker_support import short_config

from itr_bench.cli import main
from itr_bench.engine.run import train_run
from itr_bench.plugins import load_registry
from itr_bench.testing import check_tracker


def scaffold(tmp_path):
    assert main(["new-plugin", "tracker", "my-csv", "--dir", str(tmp_path)]) == 0
    folder = tmp_path / "itr-bench-my-csv"
    spec = importlib.util.spec_from_file_location("itr_bench_my_csv", folder / "itr_bench_my_csv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return folder, module


def rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_scaffold_writes_a_tracker_package(tmp_path, capsys):
    folder, _ = scaffold(tmp_path)
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert files == [".gitignore", "README.md", "itr_bench_my_csv.py", "pyproject.toml", "tests/test_itr_bench_my_csv.py"]
    source = (folder / "itr_bench_my_csv.py").read_text()
    assert "def register_trackers(register)" in source and "class MyCsvTracker(Tracker)" in source and "$" not in source
    assert "itr-bench list trackers" in capsys.readouterr().out


def test_a_run_reports_to_the_scaffolded_tracker(tmp_path, pm, register_plugin):
    from tiny_models import TinyPlugin

    _, module = scaffold(tmp_path)
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(module, "my-csv")
    registry = load_registry(pm)
    check_tracker(registry, "my-csv", folder=tmp_path / "check")
    train_run(short_config(tmp_path / "cache", batch_size=4), registry, tmp_path / "run", progress=False,
              report_to=["my-csv"])
    written = rows(tmp_path / "run" / "my_csv.csv")
    assert [row["step"] for row in written if row["key"] == "train/loss"] == ["10", "16", "26", "32"]
    assert [row["step"] for row in written if row["key"] == "val/rsum"] == ["16", "32"]
    assert [row["value"] for row in written if row["key"] == "status"] == ["finished"]


@pytest.mark.slow
def test_the_generated_tests_pass_after_pip_install(tmp_path):
    folder, _ = scaffold(tmp_path)
    site = tmp_path / "site"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ITR_BENCH_")}
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(folder)], check=True, env=environ)
    environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), environ.get("PYTHONPATH", "")) if p)
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(folder)],
                           check=False, capture_output=True, text=True, env=environ, cwd=tmp_path)
    assert re.search(r"\b3 passed\b", tests.stdout), tests.stdout + tests.stderr
