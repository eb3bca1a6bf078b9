"""Which queries a report shows: a seeded sample, and those the runs disagree on most."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..store.per_query import QueryResults

#: A run "misses" a query when its first correct match is outside this many items.
MISS_BEYOND = 10

#: Direction -> (query kind, retrieved kind), as the page names them.
KINDS = {"t2i": ("caption", "image"), "i2t": ("image", "caption")}


@dataclass(frozen=True)
class Query:
    direction: str
    index: int


def directions(results: QueryResults) -> list[str]:
    """The directions every run has (identity runs: text to image only), text to image first."""
    return [d for d in ("t2i", "i2t") if d in results.directions]


def sample(results: QueryResults, count: int, seed: int) -> list[Query]:
    """``count`` queries per direction, drawn without replacement by a seeded generator (sorted)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for direction in directions(results):
        total = len(results.directions[direction].rank)
        picked = np.sort(rng.choice(total, size=min(count, total), replace=False))
        chosen += [Query(direction, int(i)) for i in picked]
    return chosen


def disagreements(all_results: Sequence[QueryResults], count: int) -> list[Query]:
    """Up to ``count`` queries per direction that one run ranks first and another misses
    (first match outside its top 10), the widest gap between the runs' ranks first."""
    chosen = []
    for direction in directions(all_results[0]):
        ranks = np.stack([r.directions[direction].rank for r in all_results])  # (runs, queries)
        best, worst = ranks.min(0), ranks.max(0)
        split = np.flatnonzero((best == 0) & (worst >= MISS_BEYOND))
        order = split[np.argsort(-(worst[split] - best[split]), kind="stable")][:count]
        chosen += [Query(direction, int(i)) for i in order]
    return chosen


def disagreement_counts(all_results: Sequence[QueryResults]) -> dict[str, int]:
    """Per direction, how many queries one run ranks first and another misses."""
    counts = {}
    for direction in directions(all_results[0]):
        ranks = np.stack([r.directions[direction].rank for r in all_results])
        counts[direction] = int(((ranks.min(0) == 0) & (ranks.max(0) >= MISS_BEYOND)).sum())
    return counts
