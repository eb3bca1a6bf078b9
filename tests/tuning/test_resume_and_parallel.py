"""A study survives ``kill -9`` and shared use: every run ends at exactly N finished trials, a
trial left running by a dead process is failed and retried with its parameters, and two
processes (or ``--jobs 2``) on one SQLite study never overshoot N."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import optuna
from optuna.trial import TrialState
from tiny_tune import write_suite

TRIALS = 3


def study_trials(store: Path) -> dict[str, list]:
    url = f"sqlite:///{store / 'mini' / 'tune.db'}"
    return {s.study_name: optuna.load_study(study_name=s.study_name, storage=url).trials
            for s in optuna.get_all_study_summaries(storage=url)}


def running(store: Path, sure: bool = False) -> bool:
    """Some trial is RUNNING now (read straight from the file while another process writes it).

    A locked or missing database reads as False, unless ``sure``: then the read is retried (for
    up to 10 s), so that a database the killed process left locked is not taken for "none running".
    """
    deadline = time.monotonic() + (10 if sure else 0)
    while True:
        try:
            with closing(sqlite3.connect(store / "mini" / "tune.db", timeout=1)) as db:
                return db.execute("SELECT COUNT(*) FROM trials WHERE state = 'RUNNING'").fetchone()[0] > 0
        except sqlite3.Error:  # locked, or not made yet
            if time.monotonic() > deadline:
                if sure:
                    raise
                return False
            time.sleep(0.1)


def tune(script: Path, suite: Path, store: Path, *extra: str, threads: int = 1) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    return subprocess.Popen([sys.executable, str(script), "tune", str(suite), "--store", str(store), "--no-progress",
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def assert_exactly_n_complete(store: Path, n: int = TRIALS) -> dict[str, list]:
    found = study_trials(store)
    assert sorted(found) == ["mini/synthetic/infonce", "mini/synthetic/triplet"]
    for name, trials in found.items():
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        assert len(complete) == n, (name, [(t.number, t.state) for t in trials])
        assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
        records = sorted((store / "mini" / "synthetic" / name.split("/")[-1] / "tune").glob("trial-*/record.json"))
        assert len(records) == n  # one record per completed trial, none for the killed one
    return found


def test_kill_9_after_the_first_trial_and_rerun(script, cache, tmp_path):
    suite = write_suite(tmp_path / "mini.toml", cache, trials=TRIALS, epochs=4)  # trials long enough to kill one
    store = tmp_path / "runs"
    process = tune(script, suite, store, "--search-only")
    deadline = time.monotonic() + 120
    while not (list(store.glob("mini/synthetic/infonce/tune/trial-*/record.json")) and running(store)):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)  # after the first trial finished, while the next one trains
    process.wait()
    stale = running(store, sure=True)  # (unless that trial ended in the instant before the kill)
    rerun = tune(script, suite, store, "--search-only")
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err.decode()
    found = assert_exactly_n_complete(store)
    # the trial the kill interrupted was settled: failed and its parameters retried (or, killed after
    # its record was written, told complete from that record)
    assert (b"left running by a dead process" in err) == stale
    for trials in found.values():
        for killed in (t for t in trials if t.state == TrialState.FAIL):
            assert killed.user_attrs["outcome"] == "killed"
            retry = [t for t in trials if t.user_attrs.get("retry_of") == killed.number]
            # killed before it started training (inside its draw, perhaps): nothing to retry
            assert len(retry) == ("host" in killed.user_attrs)
            assert all(r.params == killed.params and r.state == TrialState.COMPLETE for r in retry)


def test_two_processes_on_one_sqlite_study(script, cache, tmp_path):
    suite = write_suite(tmp_path / "mini.toml", cache, trials=TRIALS)
    store = tmp_path / "runs"
    processes = [tune(script, suite, store) for _ in range(2)]
    errors = [p.communicate(timeout=300)[1].decode() for p in processes]
    assert [p.returncode for p in processes] == [0, 0], errors
    found = assert_exactly_n_complete(store)
    for trials in found.values():
        assert [t.number for t in trials] == list(range(TRIALS))  # nothing failed, nothing doubled
    # each process waited for the other's last trials: every tuned record states all of them
    finals = sorted(store.glob("mini-tuned/synthetic/*/seed-*/record.json"))
    assert len(finals) == 4
    assert all(json.loads(p.read_text())["tuning"]["trials"] == TRIALS for p in finals)


def test_jobs_share_one_storage_without_overshooting(script, cache, tmp_path):
    # in a fresh process, as a user runs it: --jobs forks its workers, and a fork of the test
    # process (which has loaded the trackers' gRPC and W&B threads by then) can crash the child
    suite = write_suite(tmp_path / "mini.toml", cache, trials=TRIALS)
    process = tune(script, suite, tmp_path / "runs", "--search-only", "--jobs", "2", threads=2)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err.decode()
    assert_exactly_n_complete(tmp_path / "runs")
    # the two workers share the process's two threads, one each, as `itr-bench run --jobs 2` does
    trials = sorted((tmp_path / "runs").glob("mini/synthetic/*/tune/trial-*/record.json"))
    assert trials and {json.loads(p.read_text())["environment"]["threads"] for p in trials} == {1}
