"""The run store's lifecycle, as a corpus: each case damages or changes a store one way and expects
one line on stderr (naming the run, file or key), the exit code, and what must stay intact.

Stale runs (a changed config is never reused or resumed), failures of any kind (the suite goes
on), locks (parallel workers share runs), damaged checkpoints (a way out), leftovers of killed
writes (cleaned, never counted) and full or read-only disks (one line, nothing lost).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tiny_toml
from tiny_cli import cli_runner
from tiny_models import TinyImage, TinyPlugin, tiny_config
from tiny_toml import stage, write_run

import itr_bench
from itr_bench.api import Loss
from itr_bench.engine.run import train_run
from itr_bench.errors import StaleRunError
from itr_bench.plugins import get_plugin_manager, load_registry
from itr_bench.store.locking import FolderLock, lock_path
from itr_bench.store.record import FAILED, RECORD
from itr_bench.suites.plan import expand, load_suite


class FloatLoss(Loss):
    """A plugin bug: returns a Python float instead of a tensor."""

    def __init__(self, context):
        super().__init__()

    def compute(self, image, text, instance_ids):
        return {"broken": 0.5}


class KeyErrorImage(TinyImage):
    """A plugin bug: the encoder raises KeyError."""

    def forward(self, images):
        raise KeyError("boom")


class Broken:
    @itr_bench.hookimpl
    def register_losses(self, register):
        register("float-loss", FloatLoss)

    @itr_bench.hookimpl
    def register_image_encoders(self, register):
        register("keyerror-image", KeyErrorImage)


def _plugin_manager():
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(TinyPlugin(), name="tiny")
    pm.register(Broken(), name="broken")
    return pm


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def cli(monkeypatch, capsys):
    """``cli(*args) -> (exit code, stdout, stderr)`` through the real entry point, tiny encoders registered."""
    return cli_runner(monkeypatch, capsys, _plugin_manager)


def write_suite(path: Path, cache: Path, *, epochs=1, train=48, margin=0.2, loss="instance",
                image="tiny-image") -> Path:
    """The mini suite: runs ``instance`` (``loss`` for ``epochs`` on ``image``) and ``ranking``."""
    return tiny_toml.write_suite(
        path, cache, dataset_options=tiny_toml.synthetic(train=train), loss_options={"ranking": {"margin": margin}},
        negatives="random", runs=[{"name": "instance", "stages": [stage({loss: 1.0}, epochs)], "image_encoder": image},
                                  {"name": "ranking", "stages": [stage({"ranking": 1.0})]}])


@pytest.fixture(scope="module")
def finished_store(tmp_path_factory, cache):
    """A store where the mini suite ran once (both runs finished); tests copy it."""
    root = tmp_path_factory.mktemp("template")
    suite = write_suite(root / "mini.toml", cache)
    registry = load_registry(_plugin_manager())
    from itr_bench.suites.executors import execute_local

    data, where = load_suite(str(suite), registry)
    outcomes = execute_local(expand(data, registry, where, root / "store"), registry, progress=False)
    assert [o.status for o in outcomes] == ["done", "done"], outcomes
    return root / "store"


@pytest.fixture
def store(tmp_path, finished_store):
    shutil.copytree(finished_store, tmp_path / "store")
    return tmp_path / "store"


def folder(store: Path, run: str = "instance") -> Path:
    return store / "mini" / "synthetic" / run / "seed-0"


def make_unfinished(store: Path, cache: Path, tmp_path: Path, epochs: int = 1) -> Path:
    """The instance run as a run killed after its last epoch's checkpoint, before its record."""
    registry = load_registry(_plugin_manager())
    data, where = load_suite(str(write_suite(tmp_path / "base.toml", cache, epochs=epochs)), registry)
    planned = expand(data, registry, where, store)[0]
    shutil.rmtree(planned.folder)
    train_run(planned.config, registry, planned.folder, where=planned.label, progress=False,
              context={"suite": "mini"})
    (planned.folder / RECORD).unlink()
    return planned.folder


def one_line(err: str, prefix: str = "itr-bench: error: ") -> str:
    lines = [line for line in err.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def records(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob(RECORD))}


# ============================================================================================
# Stale runs: a changed config is refused (keys named), retrained with --rerun-changed, never reused
# ============================================================================================

STALE_CASES = {
    "epochs changed": (
        dict(epochs=2),
        r"synthetic/instance/seed-0: trained under another config \(\S+instance/seed-0/record\.json\): "
        r"stages\[0\]\.epochs 1 -> 2; rerun with --rerun-changed",
    ),
    "dataset size and a loss option changed": (
        dict(train=64, margin=0.3),
        r"synthetic/instance/seed-0: trained under another config \(\S+\): dataset_options\.train 48 -> 64, "
        r"loss_options\.ranking\.margin 0\.2 -> 0\.3; rerun with --rerun-changed .*\(1 more runs changed",
    ),
}


@pytest.mark.parametrize("case", sorted(STALE_CASES))
def test_changed_suite_is_refused_naming_the_keys(cli, store, cache, tmp_path, case):
    changes, pattern = STALE_CASES[case]
    before = records(store)
    code, out, err = cli("run", write_suite(tmp_path / "mini.toml", cache, **changes), "--store", store,
                         "--no-progress")
    assert code == 2 and re.search(pattern, one_line(err)), err
    assert records(store) == before  # nothing reused, nothing retrained, nothing lost


def test_dry_run_shows_changed_beside_done(cli, store, cache, tmp_path):
    code, out, err = cli("run", write_suite(tmp_path / "mini.toml", cache, epochs=2), "--store", store, "--dry-run")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("changed  synthetic/instance/seed-0") and "stages[0].epochs 1 -> 2" in lines[0]
    assert lines[1].startswith("done  synthetic/ranking/seed-0")
    assert "(1 already finished, 1 changed)" in err


def test_an_override_plans_a_changed_run_never_reuses_a_stale_one(cli, store, cache, tmp_path):
    """Runs are keyed by their config: --set changes it like an edit of the file does."""
    suite, before = write_suite(tmp_path / "mini.toml", cache), records(store)
    code, out, err = cli("run", suite, "--store", store, "--no-progress", "--set", "stages.0.epochs=2")
    assert code == 2 and re.search(r"synthetic/instance/seed-0: trained under another config \(\S+\): "
                                   r"stages\[0\]\.epochs 1 -> 2; rerun with --rerun-changed", one_line(err)), err
    code, out, err = cli("run", suite, "--store", store, "--dry-run", "--set-run", "ranking.stages.0.lr=0.05")
    assert code == 0 and out.splitlines()[0].startswith("done  synthetic/instance/seed-0"), err
    assert out.splitlines()[1].startswith("changed  synthetic/ranking/seed-0") and "stages[0].lr 0.1 -> 0.05" in out
    assert records(store) == before
    # an override equal to what the run used is the same config: the finished run is reused
    code, out, err = cli("run", suite, "--store", store, "--no-progress", "--set", "stages.0.epochs=1",
                         "--set", "loss_options.ranking.margin=0.2")
    assert code == 0 and err.count("skipped") == 2 and records(store) == before, err


def test_train_takes_the_same_overrides_and_refuses_a_changed_folder(cli, cache, tmp_path):
    out, config = tmp_path / "run", write_train(tmp_path / "a.toml", cache)
    assert cli("train", config, "--out", out, "--no-progress", "--seed", "3", "--set", "stages.0.lr=0.05")[0] == 0
    record = json.loads((out / RECORD).read_text())
    assert record["config"]["seed"] == 3 and record["config"]["stages"][0]["lr"] == 0.05
    code, _, err = cli("train", config, "--out", out, "--no-progress", "--seed", "3", "--set", "stages.0.epochs=2",
                       "--set", "stages.0.lr=0.05")
    assert code == 2 and re.search(r"record\.json\): stages\[0\]\.epochs 1 -> 2; rerun", one_line(err)), err
    code, _, err = cli("train", config, "--out", out, "--no-progress")  # the file alone is another config too
    assert code == 2 and re.search(r"seed 3 -> 0, stages\[0\]\.lr 0\.05 -> 0\.1;", one_line(err)), err


def test_rerun_changed_retrains_and_moves_the_old_results_aside(cli, store, cache, tmp_path):
    old = folder(store) / RECORD
    old_bytes, ranking = old.read_bytes(), (folder(store, "ranking") / RECORD).read_bytes()
    code, out, err = cli("run", write_suite(tmp_path / "mini.toml", cache, epochs=2), "--store", store,
                         "--rerun-changed", "--no-progress")
    assert code == 0, err
    moved = re.search(r"synthetic/instance/seed-0: trained under another config .*moved to (\S+);", err)
    assert moved, err
    assert (Path(moved[1]) / RECORD).read_bytes() == old_bytes  # kept, not deleted
    assert Path(moved[1]).name.startswith(".seed-0.changed-")
    assert json.loads(old.read_text())["epochs"] == 2
    assert (folder(store, "ranking") / RECORD).read_bytes() == ranking  # the unchanged run is reused
    csv = (store / "mini" / "leaderboard" / "mini__synthetic.csv").read_text()
    assert re.search(r"^mini,synthetic,instance,1,", csv, re.M), csv  # the moved-aside record is not counted


def test_unfinished_run_under_another_config_is_not_resumed(cli, store, cache, tmp_path):
    run = make_unfinished(store, cache, tmp_path)
    code, out, err = cli("run", write_suite(tmp_path / "mini.toml", cache, epochs=2), "--store", store,
                         "--no-progress")
    assert code == 2
    assert re.search(r"synthetic/instance/seed-0: trained under another config \(\S+/last/state\.json\): "
                     r"stages\[0\]\.epochs 1 -> 2", one_line(err)), err
    assert (run / "last").is_dir() and not (run / RECORD).exists()


def test_same_config_resumes_and_reuses(cli, store, cache, tmp_path):
    run = make_unfinished(store, cache, tmp_path)
    ranking = (folder(store, "ranking") / RECORD).read_bytes()
    code, out, err = cli("run", write_suite(tmp_path / "mini.toml", cache), "--store", store, "--no-progress")
    assert code == 0, err
    record = json.loads((run / RECORD).read_text())
    assert len(record["history"]) == 1  # resumed from last/: no epoch trained twice
    assert (folder(store, "ranking") / RECORD).read_bytes() == ranking




def write_train(path: Path, cache: Path, epochs=1, lr=0.1) -> Path:
    return write_run(path, cache, stages=[stage({"instance": 1.0}, epochs, lr=lr)],
                     dataset_options=tiny_toml.synthetic(train=48), untrained_baseline=False)


def test_train_into_a_folder_of_another_config_is_refused_or_retrained(cli, cache, tmp_path):
    out = tmp_path / "run"
    assert cli("train", write_train(tmp_path / "a.toml", cache), "--out", out, "--no-progress")[0] == 0
    first = (out / RECORD).read_bytes()
    code, _, err = cli("train", write_train(tmp_path / "b.toml", cache, epochs=2), "--out", out, "--no-progress")
    assert code == 2 and re.search(rf"{re.escape(str(out))}: trained under another config \(\S+record\.json\): "
                                   r"stages\[0\]\.epochs 1 -> 2; rerun with --rerun-changed", one_line(err)), err
    assert (out / RECORD).read_bytes() == first
    code, _, err = cli("train", tmp_path / "b.toml", "--out", out, "--no-progress", "--rerun-changed")
    assert code == 0, err
    record = json.loads((out / RECORD).read_text())
    assert record["epochs"] == 2 and len(record["history"]) == 2  # trained anew, not extended
    assert [(p / RECORD).read_bytes() for p in tmp_path.glob(".run.changed-*")] == [first]
    code, stdout, err = cli("train", tmp_path / "b.toml", "--out", out, "--no-progress")
    assert code == 0 and "already trained under this config" in err and stdout.startswith("test: rsum")


def test_killed_train_resumed_with_other_lr_and_epochs_is_refused(cli, cache, tmp_path):
    out = tmp_path / "run"
    assert cli("train", write_train(tmp_path / "a.toml", cache), "--out", out, "--no-progress")[0] == 0
    (out / RECORD).unlink()  # as if killed after the last checkpoint
    code, _, err = cli("train", write_train(tmp_path / "b.toml", cache, epochs=2, lr=0.05), "--out", out)
    assert code == 2
    assert re.search(r"last/state\.json\): stages\[0\]\.epochs 1 -> 2, stages\[0\]\.lr 0\.1 -> 0\.05", one_line(err))


def test_the_trainer_itself_never_extends_a_run_of_another_config(pm, register_plugin, tmp_path):
    register_plugin(TinyPlugin(), "tiny")
    registry = load_registry(pm)
    train_run(tiny_config(tmp_path / "cache"), registry, tmp_path / "run", progress=False)
    (tmp_path / "run" / RECORD).unlink()
    with pytest.raises(StaleRunError, match=r"run/last: trained under another config: seed 0 -> 1"):
        train_run(tiny_config(tmp_path / "cache", seed=1), registry, tmp_path / "run", progress=False)


def test_a_code_change_alone_does_not_invalidate_a_run(store, tmp_path):
    """A record from an older version: other itr-bench version and commit, a config key it did not know."""
    path = folder(store) / RECORD
    record = json.loads(path.read_text())
    record.update(itr_bench_version="0.0.1", git_commit="0" * 40)
    record["config"].pop("test_time_augmentation")  # written before that key existed: its default ran
    record["config"]["retired_key"] = 3  # a key the code no longer has
    record["config"]["cache_dir"] = "/elsewhere"  # where the prepared data lives is not what ran
    path.write_text(json.dumps(record))
    registry = load_registry(_plugin_manager())
    data, where = load_suite(str(write_suite(tmp_path / "m.toml", tmp_path / "cache")), registry)
    assert [run.state().status for run in expand(data, registry, where, store)] == ["done", "done"]


# ============================================================================================
# Any per-run failure: one line naming the file or key, recorded; the suite goes on; exit 2
# ============================================================================================


FAILURE_CASES = {
    "last/state.json missing a key (was KeyError)": (
        lambda run: (run / "last" / "state.json").write_text(json.dumps(
            {"state": json.loads((run / "last" / "state.json").read_text())["state"]})),
        r"seed-0/last: damaged checkpoint \(KeyError: missing key 'components'\); delete \S+seed-0/last or "
        r"rerun with --restart-damaged",
    ),
    "binary last/state.json": (
        lambda run: (run / "last" / "state.json").write_bytes(b"\x00\xff\xfe binary"),
        r"damaged checkpoint: \S+seed-0/last/state\.json: damaged: not UTF-8 text \(byte \d+\); delete \S+seed-0/last "
        r"or rerun with --restart-damaged",
    ),
    "truncated tensors (SafetensorError)": (
        lambda run: (run / "last" / "tensors.safetensors").write_bytes(
            (run / "last" / "tensors.safetensors").read_bytes()[:-64]),
        r"seed-0/last: damaged checkpoint \(SafetensorError: .*\); delete \S+seed-0/last or rerun with "
        r"--restart-damaged",
    ),
    "record.json is a folder": (
        lambda run: ((run / RECORD).unlink(), (run / RECORD).mkdir()),
        r"seed-0/record\.json: is a folder, not a JSON file; delete \S+seed-0/record\.json or rerun with "
        r"--restart-damaged",
    ),
    "record.json not UTF-8": (
        lambda run: (run / RECORD).write_bytes(b"\xff\xfe{"),
        r"seed-0/record\.json: damaged: not UTF-8 text \(byte 0\); delete",
    ),
    "record.json a JSON list": (
        lambda run: (run / RECORD).write_text("[1, 2]"),
        r"seed-0/record\.json: damaged: expected a JSON object, got a JSON list; delete",
    ),
}


@pytest.mark.parametrize("case", sorted(FAILURE_CASES))
def test_damaged_run_fails_alone_with_one_line(cli, store, cache, tmp_path, case):
    damage, pattern = FAILURE_CASES[case]
    run = make_unfinished(store, cache, tmp_path) if "last/" in case or "tensors" in case else folder(store)
    (folder(store, "ranking") / RECORD).unlink()  # the other run still has to train
    damage(run)
    code, out, err = cli("run", write_suite(tmp_path / "mini.toml", cache), "--store", store, "--no-progress")
    assert code == 2 and "Traceback" not in err, err
    line = one_line(err, "failed: ")
    assert line.startswith("failed: synthetic/instance/seed-0: ") and re.search(pattern, line), line
    assert (folder(store, "ranking") / RECORD).is_file()  # the suite went on
    assert "damaged" in json.loads((run / FAILED).read_text())["reason"]


def test_restart_damaged_retrains_and_keeps_the_damaged_files(cli, store, cache, tmp_path):
    run = make_unfinished(store, cache, tmp_path)
    (run / "last" / "state.json").write_bytes(b"\x00\xff binary")
    code, out, err = cli("run", write_suite(tmp_path / "mini.toml", cache), "--store", store, "--no-progress",
                         "--restart-damaged")
    assert code == 0, err
    moved = Path(re.search(r"moved to (\S+);", err)[1])
    assert moved.name.startswith(".seed-0.damaged-")
    assert (moved / "last" / "state.json").read_bytes() == b"\x00\xff binary"
    assert json.loads((run / RECORD).read_text())["epochs"] == 1


def test_damaged_tensors_found_only_on_load_restart_too(cli, store, cache, tmp_path):
    run = make_unfinished(store, cache, tmp_path)
    tensors = run / "last" / "tensors.safetensors"
    tensors.write_bytes(tensors.read_bytes()[:-64])
    code, out, err = cli("run", write_suite(tmp_path / "mini.toml", cache), "--store", store, "--no-progress",
                         "--restart-damaged")
    assert code == 0 and (run / RECORD).is_file(), err
    assert re.search(r"seed-0/last: damaged checkpoint \(SafetensorError.*moved to \S+\.seed-0\.damaged-", err)


BUG_CASES = {
    "a loss returns a float (was AttributeError)": (
        dict(loss="float-loss"),
        r"failed: synthetic/instance/seed-0: .*FloatLoss term 'broken' is a float, not a tensor",
        "error",
    ),
    "a plugin raises KeyError": (
        dict(image="keyerror-image"),
        r"failed: synthetic/instance/seed-0: KeyError: 'boom' \(a bug in plugin broken \([\w.]*test_store_lifecycle, "
        r"test_store_lifecycle\.py:\d+\), not in the input; --debug shows the traceback\)",
        "bug",
    ),
}


@pytest.mark.parametrize("case", sorted(BUG_CASES))
def test_plugin_bugs_fail_their_run_only(cli, tmp_path, cache, case):
    changes, pattern, kind = BUG_CASES[case]
    code, out, err = cli("run", write_suite(tmp_path / "mini.toml", cache, **changes), "--store",
                         tmp_path / "store", "--no-progress")
    assert code == 2 and "Traceback" not in err, err
    assert re.search(pattern, one_line(err, "failed: ")), err
    assert (folder(tmp_path / "store", "ranking") / RECORD).is_file()
    failure = json.loads((folder(tmp_path / "store") / FAILED).read_text())
    assert failure["kind"] == kind and "Traceback" in failure["traceback"]


def test_debug_shows_the_traceback_of_a_failed_run(cli, tmp_path, cache):
    code, out, err = cli("--debug", "run", write_suite(tmp_path / "mini.toml", cache, image="keyerror-image"),
                         "--store", tmp_path / "store", "--no-progress")
    assert code == 2 and "Traceback (most recent call last)" in err and "KeyError: 'boom'" in err


# ============================================================================================
# Full and read-only disks: one line with the path and the cause; what was written stays
# ============================================================================================


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_fails_the_run_with_one_line_then_resumes_after_freeing_space(cli, cache, tmp_path, monkeypatch):
    import itr_bench.engine.checkpoint as checkpoint

    suite, store = write_suite(tmp_path / "mini.toml", cache, epochs=2), tmp_path / "store"
    real_save, saves = checkpoint.save_file, []

    def disk_fills_after_the_first_epoch(tensors, path):
        saves.append(path)
        if len(saves) > 2:  # epoch 1 wrote best/ and last/; then the disk is full
            _no_space()
        real_save(tensors, path)

    monkeypatch.setattr(checkpoint, "save_file", disk_fills_after_the_first_epoch)
    code, out, err = cli("run", suite, "--store", store, "--no-progress")
    assert code == 2
    failed = [line for line in err.splitlines() if line.startswith("failed: ")]
    assert re.match(r"failed: synthetic/instance/seed-0: \S+instance/seed-0/(best|last): no space left on device",
                    failed[0]), err
    assert "Traceback" not in err and len(failed) == 2  # the ranking run failed alone too: the suite went on
    run = folder(store)
    saved = json.loads((run / "last" / "state.json").read_text())["state"]["train"]["history"]
    assert len(saved) == 1  # epoch 1's checkpoint is intact
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # no half-written checkpoint
    monkeypatch.setattr(checkpoint, "save_file", real_save)  # space freed
    code, out, err = cli("run", suite, "--store", store, "--no-progress")
    assert code == 0, err
    history = json.loads((run / RECORD).read_text())["history"]
    assert len(history) == 2 and history[0] == saved[0]  # resumed after epoch 1, not retrained
    assert (folder(store, "ranking") / RECORD).is_file()


def _read_only(path_part: str):
    real = os.open

    def fake(path, *args, **kwargs):
        if path_part in str(path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real(path, *args, **kwargs)

    return fake


def test_read_only_store_is_one_line_per_run_and_exit_2(cli, tmp_path, cache, monkeypatch):
    """Tests run as root, where chmod does not stop writes: the file system's refusal is simulated."""
    monkeypatch.setattr("itr_bench.store.locking.os.open", _read_only(str(tmp_path / "store")))
    code, out, err = cli("run", write_suite(tmp_path / "mini.toml", cache), "--store", tmp_path / "store",
                         "--no-progress")
    assert code == 2 and "Traceback" not in err, err
    failed = [line for line in err.splitlines() if line.startswith("failed: ")]
    assert len(failed) == 2 and all(re.search(r"seed-0: read-only file system", line) for line in failed), err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod; the monkeypatched variant covers it")
def test_chmod_read_only_store(cli, store, cache, tmp_path):
    (folder(store, "ranking") / RECORD).unlink()
    os.chmod(folder(store, "ranking"), 0o555)
    os.chmod(folder(store, "ranking").parent, 0o555)
    try:
        code, out, err = cli("run", write_suite(tmp_path / "mini.toml", cache), "--store", store, "--no-progress")
    finally:
        os.chmod(folder(store, "ranking").parent, 0o755)
        os.chmod(folder(store, "ranking"), 0o755)
    assert code == 2 and re.search(r"failed: synthetic/ranking/seed-0: \S+: permission denied", err), err


def test_read_only_leaderboard_out_is_one_line(cli, store, tmp_path, monkeypatch):
    monkeypatch.setattr("itr_bench.store.atomic.tempfile.mkstemp", _no_space)
    code, out, err = cli("leaderboard", store, "--out", tmp_path / "boards")
    assert code == 2
    assert re.fullmatch(r"itr-bench: error: \S+boards/mini__synthetic\.csv: no space left on device .*",
                        one_line(err)), err


def test_full_disk_while_preparing_names_the_cache_entry(cli, tmp_path, monkeypatch):
    monkeypatch.setattr("itr_bench.data.prepare._write_arrow", lambda path, rows, bar: (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device", str(path))))
    code, out, err = cli("run", write_suite(tmp_path / "mini.toml", tmp_path / "fresh-cache"), "--store",
                         tmp_path / "store", "--no-progress")
    assert code == 2
    assert re.search(r"failed: synthetic/instance/seed-0: \S+fresh-cache/synthetic\S+px-\w+: no space left", err), err
    assert [p.name for p in (tmp_path / "fresh-cache").iterdir()] == []  # no half-built entry


# ============================================================================================
# Locks: one process owns a run folder; a dead owner's lock is taken over; workers share runs
# ============================================================================================


def test_a_live_lock_skips_the_run_with_its_owner_named(cli, tmp_path, cache):
    suite = write_suite(tmp_path / "mini.toml", cache)
    with FolderLock(folder(tmp_path / "store")):  # another process (here: this one) trains it
        code, out, err = cli("run", suite, "--store", tmp_path / "store", "--no-progress")
    assert code == 0, err
    line = one_line(err, "busy: ")
    assert re.search(rf"busy: synthetic/instance/seed-0: \S+seed-0: in use by pid {os.getpid()} on "
                     rf"{re.escape(socket.gethostname())}", line), line
    assert not (folder(tmp_path / "store") / RECORD).exists()
    assert (folder(tmp_path / "store", "ranking") / RECORD).is_file()


def test_a_dead_owners_lock_is_taken_over(cli, tmp_path, cache):
    lock = lock_path(folder(tmp_path / "store"))
    lock.parent.mkdir(parents=True)
    lock.write_text("pid 999999 on a-host-that-died\n")  # kill -9 leaves the file, never the flock
    code, out, err = cli("run", write_suite(tmp_path / "mini.toml", cache), "--store", tmp_path / "store",
                         "--no-progress")
    assert code == 0 and "busy" not in err, err
    assert (folder(tmp_path / "store") / RECORD).is_file() and not lock.exists()


WORKER = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, {support!r})
    sys.path.insert(0, {here!r})
    import itr_bench.cli
    import itr_bench.engine.train as train_module
    from test_store_lifecycle import _plugin_manager

    import itr_bench.engine.run as run_module
    original = train_module.Trainer._train_epoch
    def slowed(self, *args, **kwargs):
        time.sleep(1.0)
        return original(self, *args, **kwargs)
    train_module.Trainer._train_epoch = slowed
    original_run = run_module.train_run
    def logged(config, registry, out_dir, **kwargs):
        with open(sys.argv[3], "a") as log:  # one line per training, from either worker
            log.write(f"{{kwargs['where']}}\\n")
        return original_run(config, registry, out_dir, **kwargs)
    run_module.train_run = logged
    itr_bench.cli.get_plugin_manager = _plugin_manager
    sys.exit(itr_bench.cli.main(["run", sys.argv[1], "--store", sys.argv[2], "--seeds", "0,1", "--no-progress"]))
""")


@pytest.mark.slow
def test_two_workers_on_one_suite_share_its_runs(tmp_path, cache):
    here = os.path.dirname(__file__)
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(support=os.path.join(os.path.dirname(here), "support"), here=here))
    suite = write_suite(tmp_path / "mini.toml", cache)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    log = tmp_path / "trainings.log"
    workers = [subprocess.Popen([sys.executable, str(script), str(suite), str(tmp_path / "store"), str(log)],
                                env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errs = [w.communicate(timeout=300)[1] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], errs
    store = tmp_path / "store"
    assert len(list(store.rglob(RECORD))) == 4
    trainings = sorted(log.read_text().split())
    assert trainings == sorted({*trainings}) and len(trainings) == 4, trainings  # each run trained exactly once
    for path in store.rglob(RECORD):
        assert len(json.loads(path.read_text())["history"]) == 1
    assert not list(store.rglob(".*.lock"))


# ============================================================================================
# Leftovers of killed writes: cleaned on the next run of their folder, never counted
# ============================================================================================


def test_leftovers_in_a_run_folder_are_removed_and_never_counted(cli, store, cache, tmp_path):
    run = make_unfinished(store, cache, tmp_path)
    (run / ".record.json.abcd1234").write_text('{"run": "instance", "test": {"rsum": 600}}')
    (run / ".best.k2j4h5g6").mkdir()  # an empty checkpoint folder of a killed save
    shutil.copytree(run / "last", run / ".last.old")  # a save killed after its second rename
    (run / ".failed.json.zz99yy88").write_text("{")
    code, out, err = cli("run", write_suite(tmp_path / "mini.toml", cache), "--store", store, "--no-progress")
    assert code == 0, err
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []
    assert "600" not in (store / "mini" / "leaderboard" / "mini__synthetic.csv").read_text().split("\n")[1][:30]


def test_a_save_killed_between_its_renames_resumes_from_the_previous_checkpoint(cli, store, cache, tmp_path):
    run = make_unfinished(store, cache, tmp_path)
    history = json.loads((run / "last" / "state.json").read_text())["state"]["train"]["history"]
    (run / "last").rename(run / ".last.old")
    code, out, err = cli("run", write_suite(tmp_path / "mini.toml", cache), "--store", store, "--no-progress")
    assert code == 0, err
    assert json.loads((run / RECORD).read_text())["history"] == history  # resumed, not retrained


def test_leaderboard_temporaries_are_removed(cli, store, tmp_path):
    boards = tmp_path / "boards"
    boards.mkdir()
    (boards / ".mini__synthetic.md.abcd1234").write_text("half a table")
    (boards / "notes.md").write_text("mine")
    code, out, err = cli("leaderboard", store, "--out", boards)
    assert code == 0, err
    names = sorted(p.name for p in boards.iterdir())
    assert "notes.md" in names and "mini__synthetic.md" in names  # the user's files stay
    assert not [name for name in names if name.startswith(".")], names


def test_a_half_built_cache_entry_is_removed_on_the_next_build(tmp_path):
    from itr_bench.data.prepare import cache_key, prepare

    registry = load_registry(_plugin_manager())
    dataset = registry.create("dataset", "synthetic", None, train=8, val=4, test=4, image_size=16)
    half = tmp_path / f".{cache_key(dataset, 16, 90)}.abcd1234"
    half.mkdir()
    (half / "train.arrow").write_bytes(b"half")
    other = tmp_path / ".another-entry-16px-0123.abcd1234"  # another entry's build: not ours to touch
    other.mkdir()
    prepared = prepare(dataset, tmp_path, 16, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([prepared.path.name, other.name])


# ============================================================================================
# The same through `itr-bench train --out`
# ============================================================================================


def test_train_into_a_damaged_folder_names_it_and_restarts_with_the_flag(cli, cache, tmp_path):
    out = tmp_path / "run"
    assert cli("train", write_train(tmp_path / "a.toml", cache), "--out", out, "--no-progress")[0] == 0
    (out / RECORD).unlink()
    (out / "last" / "state.json").write_text('{"state": [], "components": {}}')
    code, _, err = cli("train", tmp_path / "a.toml", "--out", out, "--no-progress")
    assert code == 2 and re.search(rf"{re.escape(str(out))}: \S+run/last/state\.json: damaged checkpoint \(no 'state' "
                                   rf"object\); delete {re.escape(str(out / 'last'))} or rerun with --restart-damaged",
                                   one_line(err)), err
    code, _, err = cli("train", tmp_path / "a.toml", "--out", out, "--no-progress", "--restart-damaged")
    assert code == 0 and (out / RECORD).is_file(), err
    assert [p.name for p in tmp_path.glob(".run.damaged-*/last/state.json")] == ["state.json"]


def test_train_on_a_full_disk_is_one_line_and_keeps_the_previous_checkpoint(cli, cache, tmp_path, monkeypatch):
    out = tmp_path / "run"
    config = write_train(tmp_path / "a.toml", cache, epochs=2)
    import itr_bench.engine.checkpoint as checkpoint

    real_save, saves = checkpoint.save_file, []

    def disk_fills(tensors, path):
        saves.append(path)
        if len(saves) > 2:
            _no_space()
        real_save(tensors, path)

    monkeypatch.setattr(checkpoint, "save_file", disk_fills)
    code, _, err = cli("train", config, "--out", out, "--no-progress")
    assert code == 2
    assert re.fullmatch(rf"itr-bench: error: {re.escape(str(out))}/(best|last): no space left on device .*",
                        one_line(err)), err
    assert json.loads((out / "last" / "state.json").read_text())["state"]["train"]["global_epoch"] == 1
    monkeypatch.setattr(checkpoint, "save_file", real_save)
    assert cli("train", config, "--out", out, "--no-progress")[0] == 0
    assert len(json.loads((out / RECORD).read_text())["history"]) == 2


def test_dry_run_lists_a_damaged_run(cli, store, cache, tmp_path):
    (folder(store) / RECORD).write_text("{")
    code, out, err = cli("run", write_suite(tmp_path / "mini.toml", cache), "--store", store, "--dry-run")
    assert code == 0 and out.splitlines()[0].startswith("damaged  synthetic/instance/seed-0"), out
    assert "record.json: damaged: not valid JSON" in out.splitlines()[0]
