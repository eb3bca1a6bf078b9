"""``itr-bench report``: what several runs retrieve for the same test queries, side by side.

One static HTML page (``index.html``) with its thumbnails (``thumbs/``) and charts next to it,
read from each run's per-query results (:mod:`itr_bench.store.per_query`) and the test split its
config rebuilds. Everything is checked before anything is written, and the page is written last
and atomically: a failed report leaves no page, or the previous one. Internal: see
:mod:`itr_bench.layers`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import ItrBenchError
from ..registry import Registry
from ..store.atomic import write_bytes, write_text
from . import figures
from .page import SHOWN, TRUTHS, PageInput, render
from .queries import Query, directions, disagreement_counts, disagreements, sample
from .runs import ReportInputError, ReportRun, collect_runs
from .split import load_test_split, write_thumbnails

__all__ = ["PAGE", "ReportInputError", "write_report"]

#: The page's file name in the output folder.
PAGE = "index.html"
THUMBS = "thumbs"


def write_report(folders: Sequence[Path], out_dir: Path, registry: Registry, *, queries: int = 24, seed: int = 0,
                 all_seeds: bool = False, progress: bool = True,
                 warn: Callable[[str], None] = lambda line: None) -> Path:
    """Write the report of the runs under ``folders`` into ``out_dir``; returns the page's path.

    :raises ReportInputError: runs that cannot be reported, one line each (nothing written).
    """
    if queries < 1:
        raise ItrBenchError(f"--queries: must be at least 1, got {queries}")
    runs = collect_runs(folders, all_seeds)
    try:
        split = load_test_split(runs[0], registry, progress)
    except ItrBenchError as exc:
        raise ReportInputError([f"{runs[0].record_path}: cannot rebuild its test split: {exc}"]) from None
    results = [run.results for run in runs]
    sampled = sample(results[0], queries, seed)
    disagreeing = disagreements(results, queries)
    thumbnails = write_thumbnails(split, _images_shown(runs, [*sampled, *disagreeing]), out_dir / THUMBS, warn)
    labels = [run.label for run in runs]
    charts = []
    for direction in directions(results[0]):
        for name, chart in (("recall", figures.recall_curves), ("ranks", figures.rank_histograms)):
            path = f"{name}_{direction}.png"
            write_bytes(out_dir / path, chart(labels, results, direction))
            charts.append(path)
    page = PageInput(runs, split, thumbnails, sampled, disagreeing, disagreement_counts(results), charts,
                     out_dir.resolve(), seed)
    write_text(out_dir / PAGE, render(page))
    return out_dir / PAGE


def _images_shown(runs: Sequence[ReportRun], queries: Sequence[Query]) -> set[int]:
    """Every image the page shows: image queries, retrieved images and the correct ones."""
    shown: set[int] = set()
    first = runs[0].results
    for query in queries:
        if query.direction == "i2t":
            shown.add(query.index)
            continue
        label = first.image_label[first.caption_image[query.index]]
        shown.update(int(i) for i in (first.image_label == label).nonzero()[0][:TRUTHS])
        for run in runs:
            shown.update(int(i) for i in run.results.directions["t2i"].top[query.index][:SHOWN])
    return shown

