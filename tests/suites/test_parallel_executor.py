"""Several runs at once (``suite.jobs`` / ``--jobs``): worker processes, the same folders and
records as one after another at the same thread count."""

import json

import pytest
import tiny_toml
import torch
from tiny_cli import cli_runner
from tiny_toml import stage

from itr_bench.plugins import get_plugin_manager, load_registry
from itr_bench.store.record import RECORD
from itr_bench.suites.executors import execute_local, execute_parallel
from itr_bench.suites.plan import expand, load_suite


def write_suite(path, cache, **suite):
    """Two seeds of one instance run on the built-in (shrunk) dual-path encoders: a worker
    process loads the installed plugins, not a test's own."""
    return tiny_toml.write_suite(path, cache, seeds=(0, 1), suite=suite, encoders=tiny_toml.DUALPATH,
                                 runs=[{"name": "instance", "stages": [stage({"instance": 1.0})]}])


@pytest.fixture
def cli(monkeypatch, capsys):
    return cli_runner(monkeypatch, capsys, get_plugin_manager)


@pytest.mark.slow
def test_two_workers_write_the_records_one_process_writes_at_their_thread_count(tmp_path):
    registry = load_registry(get_plugin_manager())
    data, where = load_suite(str(write_suite(tmp_path / "mini.toml", tmp_path / "cache")), registry)
    parallel = expand(data, registry, where, tmp_path / "parallel")
    ended = []
    outcomes = execute_parallel(parallel, jobs=2, threads=1, progress=False, on_outcome=ended.append)
    assert sorted(o.status for o in outcomes) == ["done", "done"], outcomes
    assert [o.run.label for o in ended] == [o.run.label for o in outcomes]  # each reported as it ended
    again = execute_parallel(parallel, jobs=2, progress=False)  # finished: no worker is started
    assert [o.status for o in again] == ["skipped", "skipped"]

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the thread count changes float reduction order, so the metrics
    try:
        sequential = expand(data, registry, where, tmp_path / "sequential")
        execute_local(sequential, registry, progress=False)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(parallel, sequential):
        worker, local = (json.loads((run.folder / RECORD).read_text()) for run in (a, b))
        assert worker["environment"]["threads"] == 1, a.label
        assert worker["test"] == local["test"], a.label
        assert worker["init_digest"] == local["init_digest"] and worker["seed"] == a.seed


@pytest.mark.slow
def test_the_suite_s_jobs_run_from_the_command_line(cli, tmp_path):
    suite = write_suite(tmp_path / "mini.toml", tmp_path / "cache", jobs=2)
    code, out, err = cli("run", str(suite), "--store", str(tmp_path / "store"), "--no-progress")
    assert code == 0, err
    assert sorted(line.split()[0] for line in err.splitlines() if "synthetic/instance/seed-" in line
                  and not line.startswith("suite")) == ["done", "done"]
    assert "instance" in out  # the leaderboard, written once both runs ended
    assert len(list((tmp_path / "store").rglob(RECORD))) == 2


@pytest.mark.parametrize("jobs", [0, -1, "two", True, 1.5])
def test_bad_suite_jobs_is_one_line(cli, tmp_path, jobs):
    suite = write_suite(tmp_path / "mini.toml", tmp_path / "cache", jobs=jobs)
    code, _, err = cli("run", str(suite), "--store", str(tmp_path / "store"), "--dry-run")
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("itr-bench: error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"{suite}: suite.jobs: a whole number of runs at once, at least 1, got {jobs!r}" in lines[0]
    assert not (tmp_path / "store").exists()


def test_jobs_option_below_one_is_refused(cli, tmp_path):
    suite = write_suite(tmp_path / "mini.toml", tmp_path / "cache")
    code, _, err = cli("run", str(suite), "--store", str(tmp_path / "store"), "--jobs", "0")
    assert code == 2 and "--jobs" in err and "Traceback" not in err
    assert not (tmp_path / "store").exists()


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_at_once_and_the_suite_resumes(tmp_path):
    """Ctrl-C (SIGINT to the terminal's process group) ends the command within seconds with
    exit 130: the workers' runs stop and log it, no queued run starts, nothing is left behind
    for the resource tracker to warn about; the next invocation finishes every run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    suite = tiny_toml.write_suite(tmp_path / "mini.toml", tmp_path / "cache", seeds=(0, 1, 2, 3), suite={"jobs": 2},
                                  encoders=tiny_toml.DUALPATH, dataset_options=tiny_toml.synthetic(train=64),
                                  runs=[{"name": "instance", "stages": [stage({"instance": 1.0}, epochs=20)]}])
    command = [sys.executable, "-m", "itr_bench.cli", "run", str(suite), "--store", str(tmp_path / "store"),
               "--no-progress"]
    # a terminal's command takes Ctrl-C; one started in the background of a script inherits
    # SIGINT ignored, so the child gets the default back, as in a terminal
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not list((tmp_path / "store").rglob("train.log")) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)
    stopped = time.monotonic()
    _, err = process.communicate(timeout=60)
    err = err.decode()
    assert process.returncode == 130 and "interrupted" in err, err
    assert time.monotonic() - stopped < 20, err
    assert "leaked" not in err and "Traceback" not in err, err
    assert len(list((tmp_path / "store").rglob("record.json"))) < 4  # the queued runs never started
    logs = [p.read_text() for p in (tmp_path / "store").rglob("train.log")]
    assert any("interrupted" in log for log in logs), logs

    finished = subprocess.run(command, capture_output=True, timeout=600)
    assert finished.returncode == 0, finished.stderr.decode()
    assert len(list((tmp_path / "store").rglob("record.json"))) == 4
