"""Running the searches: one process, K local worker processes, or Ray tasks, on one storage.

Every worker walks the runs in the suite's order and runs trials of each until its study has
its N finished trials or the rest are running elsewhere (:func:`~itr_bench.tuning.search.run_search`);
the study lock keeps the count exact however many workers share it.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Sequence

from ..errors import ItrBenchError
from ..registry import Registry
from .search import RunSearch, SearchResult, run_search


def search_all(searches: Sequence[RunSearch], storage_url: str, registry: Registry, *, progress: bool = True,
               say: Callable[[str], None] = print) -> list[SearchResult]:
    """Each run's search in turn; an error stops that run's search only."""
    results = []
    for search in searches:
        try:
            results.append(run_search(search, storage_url, registry, progress=progress, say=say))
        except ItrBenchError as exc:
            results.append(SearchResult(search, 0, str(exc)))
    return results


def search_local(searches: Sequence[RunSearch], storage_url: str, registry: Registry, jobs: int, *,
                 progress: bool = True, say: Callable[[str], None] = print) -> list[SearchResult]:
    """``jobs`` == 1: in this process. More: ``jobs`` forked worker processes (they inherit the
    registry, third-party plugins included, which a spawned process could not: it does not
    pickle), each on its share of this process's torch threads (at least one), as ``itr-bench run
    --jobs`` gives its workers; then the studies are read back for the results. Fork from a fresh
    process, as the command does: a process that has started gRPC or tracker threads (a test
    session that ran the trackers' tests) can crash its forked children."""
    if jobs <= 1:
        return search_all(searches, storage_url, registry, progress=progress, say=say)
    from ..suites.executors import threads_per_job

    threads = threads_per_job(jobs)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_worker, args=(searches, storage_url, registry, threads), daemon=False)
               for _ in range(jobs)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    failed = [w.exitcode for w in workers if w.exitcode]
    return [SearchResult(s, 0, f"a worker process exited with code {failed[0]}" if failed else "") for s in searches]


def _worker(searches: Sequence[RunSearch], storage_url: str, registry: Registry, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    results = search_all(searches, storage_url, registry, progress=False, say=_say_err)
    sys.exit(1 if any(r.error for r in results) else 0)


def _say_err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def search_ray(searches: Sequence[RunSearch], storage_url: str, jobs: int, address: str | None = None,
               cpus_per_trial: float = 1.0) -> list[SearchResult]:
    """``jobs`` Ray tasks per run, each running that run's trials (plugins load in the workers,
    from their entry points, as for ``itr-bench run --executor ray``)."""
    try:
        import ray
    except ImportError:
        raise ItrBenchError("the ray executor needs Ray: pip install 'itr-bench[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    task = ray.remote(num_cpus=cpus_per_trial)(_ray_task)
    pending = [task.remote(search, storage_url) for search in searches for _ in range(max(1, jobs))]
    results = ray.get(pending)
    merged = {}
    for result in results:  # one line per run: its first error, if any
        if result.search.study not in merged or result.error:
            merged[result.search.study] = result
    return [merged[s.study] for s in searches]


def _ray_task(search: RunSearch, storage_url: str) -> SearchResult:
    from ..plugins import get_plugin_manager, load_registry

    return search_all([search], storage_url, load_registry(get_plugin_manager()), progress=False)[0]
