"""Executors: each planned run trained into its folder, here one after another, in a few
worker processes at once, or as Ray tasks.

A process owns a run folder while it trains it (:mod:`itr_bench.store.locking`), so several
processes on one store share its runs. A run that fails, for any reason, writes ``failed.json``
with the reason and the suite goes on; the next invocation tries it again.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..data.identity import planned_data_fingerprint
from ..errors import ItrBenchError, RunBusyError
from ..registry import Registry
from ..store.atomic import write_json
from ..store.failures import describe_failure
from ..store.locking import FolderLock
from ..store.record import FAILED, LAST
from ..store.state import DONE, Policy, settle, train_settled
from .plan import PlannedRun


@dataclass(frozen=True)
class Outcome:
    run: PlannedRun
    #: "done" (trained now), "skipped" (already finished), "busy" (another process owns it), "failed"
    status: str
    reason: str = ""
    #: for "failed": "error" (the user's to fix) or "bug", see :mod:`itr_bench.store.failures`; and its traceback
    kind: str = ""
    trace: str = ""


def _say(message: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(message, file=sys.stderr)


def execute_one(run: PlannedRun, registry: Registry, progress: bool = True, keep_last: bool = False,
                policy: Policy = Policy(), say: Callable[[str], None] = _say) -> Outcome:
    """Train one planned run into its folder, owning it; any failure is recorded, never raised.

    A folder another live process owns is left to it (``busy``). A failure of any kind, a bug
    included, is written to the run's ``failed.json`` (with its traceback) so that the suite can
    go on with its other runs.
    """
    lock = FolderLock(run.folder)
    try:
        lock.acquire()
    except RunBusyError as exc:
        return Outcome(run, "busy", str(exc))
    except Exception as exc:  # an unwritable store: the lock file cannot be made
        return _failed(run, exc, registry)
    try:
        outcome = _execute_owned(run, registry, progress, policy, say)
    except Exception as exc:
        outcome = _failed(run, exc, registry)
    else:
        if outcome.status == "done" and not keep_last:
            # the optimizer state is only needed to resume; best/ stays for evaluate
            shutil.rmtree(run.folder / LAST, ignore_errors=True)
    finally:
        lock.release()
    return outcome


def _execute_owned(run: PlannedRun, registry: Registry, progress: bool, policy: Policy,
                   say: Callable[[str], None]) -> Outcome:
    from ..engine.run import train_run

    def train() -> None:
        train_run(run.config, registry, run.folder, where=run.label, progress=progress,
                  context={"suite": run.suite, "run_index": run.index, "baseline": run.baseline,
                           **run.record_fields},
                  report_to=run.report_to)

    data = planned_data_fingerprint(run.config, registry, run.label)
    if settle(run.folder, run.config, run.label, policy, say, data).status == DONE:
        return Outcome(run, "skipped")
    failed = run.folder / FAILED
    if failed.is_file() or failed.is_symlink():
        failed.unlink()
    train_settled(run.folder, run.label, policy, say, train)
    return Outcome(run, "done")


def _failed(run: PlannedRun, exc: Exception, registry: Registry) -> Outcome:
    failure = describe_failure(exc, registry)
    if failure.line.startswith(f"{run.label}: "):  # the outcome names the run already
        failure = replace(failure, line=failure.line[len(run.label) + 2:])
    try:
        write_json(run.folder / FAILED, {"run": run.label, "suite": run.suite, "dataset": run.dataset,
                                         "kind": failure.kind, "reason": failure.line,
                                         "traceback": failure.traceback})
    except Exception as write_error:  # a full or read-only disk: the line still says what failed
        return Outcome(run, "failed", f"{failure.line} (and {FAILED} could not be written: "
                                      f"{describe_failure(write_error).line})", failure.kind, failure.traceback)
    return Outcome(run, "failed", failure.line, failure.kind, failure.traceback)


def execute_local(runs: list[PlannedRun], registry: Registry, progress: bool = True,
                  on_outcome: Callable[[Outcome], None] | None = None, policy: Policy = Policy(),
                  say: Callable[[str], None] = _say) -> list[Outcome]:
    """Run every planned run in this process, one after another (others may share the store)."""
    from tqdm.auto import tqdm

    outcomes = []
    bar = tqdm(runs, desc="suite", unit="run", disable=not progress)
    for run in bar:
        bar.set_postfix_str(run.label)
        outcome = execute_one(run, registry, progress=progress, policy=policy, say=say)
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)
    return outcomes


def execute_parallel(runs: list[PlannedRun], jobs: int, progress: bool = True,
                     on_outcome: Callable[[Outcome], None] | None = None, policy: Policy = Policy(),
                     threads: int | None = None) -> list[Outcome]:
    """Train ``jobs`` runs at once, each in its own worker process on ``threads`` torch threads
    (default: this process's threads shared out, at least one each); outcomes come in the
    order the runs end.

    A small CPU model's operations are too small for intra-op threads to split well, so two
    one-thread processes train more pairs per second than one two-thread process (the
    quickstart's runs: ~1.3x on a 2-core machine). A run's numbers depend on its
    thread count (the record names it), not on which worker trained it. Workers are started
    fresh (``spawn``), never forked from a process whose thread pools are running. A worker
    that dies (killed, out of memory) fails the runs it held with that reason; the others go on.
    Ctrl-C is this process's to handle: it stops every worker's run as Ctrl-C stops a run in
    one process (the run logs it and resumes on the next invocation) and no queued run starts.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    from tqdm.auto import tqdm

    per_job = threads or threads_per_job(jobs)
    # a finished run is skipped here, so no worker starts for a suite that is done
    done = [run.state().status == DONE for run in runs]
    todo = [run for run, finished in zip(runs, done) if not finished]
    outcomes = [Outcome(run, "skipped") for run, finished in zip(runs, done) if finished]
    for outcome in outcomes:
        if on_outcome:
            on_outcome(outcome)
    if not todo:
        return outcomes
    bar = tqdm(total=len(todo), desc=f"suite ({min(jobs, len(todo))} at once)", unit="run", disable=not progress)
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker, initargs=(per_job,))
    try:
        pending = {pool.submit(_worker_task, run, policy): run for run in todo}
        for future in as_completed(pending):
            run = pending[future]
            try:
                outcome = future.result()
            except BrokenProcessPool:
                outcome = Outcome(run, "failed", "its worker process died (killed, or out of memory); "
                                                 "rerun the suite to retry it", "error")
            outcomes.append(outcome)
            bar.update()
            bar.set_postfix_str(run.label)
            if on_outcome:
                on_outcome(outcome)
    except KeyboardInterrupt:
        workers = multiprocessing.active_children()  # this executor's workers
        for worker in workers:
            worker.terminate()  # SIGTERM, which a worker turns into Ctrl-C (_stop_worker)
        for worker in workers:
            worker.join(timeout=30)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    return outcomes


def threads_per_job(jobs: int) -> int:
    """This process's torch threads shared out among ``jobs`` worker processes, at least one each
    (``itr-bench run --jobs`` and ``itr-bench tune --jobs`` alike)."""
    import torch

    return max(1, torch.get_num_threads() // jobs)


class _Worker:
    """A worker process's own state: whether a run is in hand (what SIGTERM must stop)."""

    busy = False


def _start_worker(threads: int) -> None:
    import threading

    import torch
    from tqdm import tqdm

    torch.set_num_threads(threads)
    # a worker shows no bars; tqdm's default lock is a named semaphore, which a worker ended by
    # os._exit would leave for the resource tracker to warn about
    tqdm.set_lock(threading.RLock())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl-C is the parent's
    signal.signal(signal.SIGTERM, _stop_worker)


def _stop_worker(signum: int, frame: object) -> None:
    """Stop the run in hand the way Ctrl-C stops one (it logs the interruption and releases its
    folder, then :func:`_worker_task` ends the process); an idle worker just ends."""
    if _Worker.busy:
        raise KeyboardInterrupt
    os._exit(128 + signum)


@functools.cache
def _worker_registry() -> Registry:
    """The plugins, loaded once per worker process."""
    from ..plugins import get_plugin_manager, load_registry

    return load_registry(get_plugin_manager())


def _worker_task(run: PlannedRun, policy: Policy) -> Outcome:
    _Worker.busy = True
    try:
        return execute_one(run, _worker_registry(), progress=False, policy=policy, say=_say_plain)
    except KeyboardInterrupt:  # stopped by _stop_worker: end here rather than take a queued run
        os._exit(128 + signal.SIGTERM)
    finally:
        _Worker.busy = False


def _say_plain(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def execute_ray(runs: list[PlannedRun], address: str | None = None, cpus_per_run: float = 1.0,
                gpus_per_run: float = 0.0, policy: Policy = Policy()) -> list[Outcome]:
    """Run each planned run as a Ray task (same folders, same records); needs ``pip install itr-bench[ray]``."""
    try:
        import ray
    except ImportError:
        raise ItrBenchError("the ray executor needs Ray: pip install 'itr-bench[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    task = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run)(_ray_task)
    # finished means a record made under the planned config: a changed one goes to a task, which
    # retrains it under --rerun-changed (the command refused it already otherwise)
    done = [run.state().status == DONE for run in runs]
    pending = [task.remote(run, policy) for run, finished in zip(runs, done) if not finished]
    outcomes = [Outcome(run, "skipped") for run, finished in zip(runs, done) if finished]
    outcomes += ray.get(pending)
    return outcomes


def _ray_task(run: PlannedRun, policy: Policy) -> Outcome:
    """Inside a Ray worker: build a fresh registry (plugins load there too) and run."""
    from ..plugins import get_plugin_manager, load_registry

    return execute_one(run, load_registry(get_plugin_manager()), progress=False, policy=policy, say=print)


def outcome_line(outcome) -> str:
    """``done  suite/dataset/run/seed-0: test rsum 12.3, best val epoch 4, 35 s`` (or the failure reason);
    the test metric is the first declared one, and the epoch says its metric when that is another."""
    from ..errors import ItrBenchError
    from ..metrics.declarations import DECLARED, DEFAULT_SELECT
    from ..store.record import RECORD, read_record

    line = f"{outcome.status:<7} {outcome.run.label}"
    if outcome.status == "failed":
        return f"{line}: {outcome.reason}"
    try:
        record = read_record(outcome.run.folder / RECORD)
        shown, selected = DECLARED.primary.name, record.get("select_metric", DEFAULT_SELECT)
        by = f" by {selected}" if selected != shown else ""
        line += (f": test {shown} {record['test'][shown]:.1f}, best val epoch {record['best_epoch']}{by}, "
                 f"{record['wall_seconds']:.0f} s")
    except (ItrBenchError, KeyError, TypeError):  # the line says what it can; the leaderboard says why
        return line
    return line + ("; DEGENERATE embeddings" if record.get("degenerate") else "")
