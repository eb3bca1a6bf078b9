"""A plugin exiting at import is named; a wait on a lock says what it waits for and gives up
(issue 30, case 8)."""

from __future__ import annotations

import importlib.metadata
import sys

import pytest

from itr_bench.cli import main
from itr_bench.errors import ConfigError, RunBusyError
from itr_bench.store.locking import WAIT_ENV, FolderLock


class ExitingEntryPoint:
    group, name, value = "itr_bench", "quitter", "quitter_module"

    def load(self):
        sys.exit(3)


class Distribution:
    metadata, version, entry_points = {"name": "quitter-dist"}, "0.1", [ExitingEntryPoint()]


def test_a_plugin_calling_sys_exit_at_import_is_named(monkeypatch, capsys):
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: iter([Distribution()]))
    assert main(["list"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("itr-bench: error: plugin 'quitter' (entry point 'quitter_module' of quitter-dist 0.1) "
                          "exited with code 3 while loading") and "\n" not in err


def test_a_waiting_lock_says_what_it_waits_for_then_gives_up(tmp_path, capsys):
    busy = r"boards: still in use by pid \d+ on .* after waiting 0.3 s \(lock .*\.boards\.lock\); gave up"
    with FolderLock(tmp_path / "boards"), pytest.raises(RunBusyError, match=busy):
        FolderLock(tmp_path / "boards", wait=0.3).acquire()
    err = capsys.readouterr().err
    assert err.startswith("waiting for pid ") and f"to release {tmp_path / 'boards'} (lock " in err
    assert err.strip().endswith("at most 0.3 s") and len(err.strip().splitlines()) == 1


def test_leaderboard_waiting_for_another_writer_gives_up_in_one_line(tmp_path, monkeypatch, capsys):
    record = tmp_path / "runs" / "s" / "synthetic" / "good" / "seed-0" / "record.json"
    record.parent.mkdir(parents=True)
    record.write_text('{"suite": "s", "dataset": "synthetic", "run": "good", "seed": 0, "test": {"rsum": 1.0}}')
    monkeypatch.setenv(WAIT_ENV, "0.3")
    with FolderLock(tmp_path / "boards"):  # another writer holds the leaderboard folder
        assert main(["leaderboard", str(tmp_path / "runs"), "--out", str(tmp_path / "boards")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("waiting for pid ") and lines[0].endswith("at most 0.3 s")
    assert lines[1].startswith(f"itr-bench: error: {tmp_path / 'boards'}: still in use by pid ")
    assert len(lines) == 2


def test_a_bad_wait_setting_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv(WAIT_ENV, "soon")
    with pytest.raises(ConfigError, match=r"\$ITR_BENCH_LOCK_TIMEOUT='soon': expected a positive number of seconds"):
        FolderLock(tmp_path / "x", wait=5)
