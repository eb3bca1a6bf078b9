"""Query-level statistics beside the seed-level ones: a two-level paired bootstrap.

The leaderboard's paired Δ (:func:`itr_bench.results.stats.paired_difference`) treats each seed's test
score as one number: with 3-4 seeds its t-interval answers "would this difference hold for
another training seed?", and is wide. The test queries are a sample too. This bootstrap
resamples both: seeds with replacement, then within each drawn seed the test queries with
replacement (the same queries for the run and the baseline: paired), and takes the 2.5 and 97.5
percentiles of the mean difference. Its interval answers "would the difference hold for other
seeds *and* another test set drawn like this one?"; with few seeds it is dominated by the seeds
it has, so it is no substitute for more seeds. The resampling generator is seeded
(:data:`RESAMPLING_SEED`), so an interval is the same every time it is computed.

A metric is bootstrapped when it is a sum of per-query means: R@K (``i2t_r1``, ``t2i_r5``, ...)
and rSum (each direction's queries resampled on their own). Inputs are the runs' per-query
results (:mod:`itr_bench.store.per_query`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics.declarations import RECALL_KS
from ..store.per_query import QueryResults

RESAMPLES = 10_000
RESAMPLING_SEED = 0
#: Resamples drawn at once: bounds the memory of the (seeds, chunk, seeds, distinct values) counts.
CHUNK = 1000


def per_query_values(metric: str, results: QueryResults) -> dict[str, np.ndarray] | None:
    """Per direction, each query's contribution to ``metric`` (its mean over the queries, summed
    over the directions, is the metric); None for a metric that is not such a sum."""
    match = re.fullmatch(r"(i2t|t2i)_r(\d+)", metric)
    if match and match.group(1) in results.directions:
        rank = results.directions[match.group(1)].rank
        return {match.group(1): 100.0 * (rank < int(match.group(2)))}
    if metric == "rsum":
        return {d: 100.0 * sum((direction.rank < k).astype(float) for k in RECALL_KS)
                for d, direction in results.directions.items()}
    return None


@dataclass(frozen=True)
class BootstrapInterval:
    difference: float
    low: float
    high: float
    seeds: int
    resamples: int


def two_level_bootstrap(differences: Sequence[Mapping[str, np.ndarray]], resamples: int = RESAMPLES,
                        seed: int = RESAMPLING_SEED, chunk: int = CHUNK) -> np.ndarray:
    """The bootstrap distribution of the mean paired difference: ``(resamples,)``.

    ``differences[s][d]``: per-query differences (run − baseline) of seed ``s`` in direction ``d``
    (every seed has the same queries). Each resample draws the seeds with replacement, then for
    each drawn seed and direction the queries with replacement; its statistic is the mean over
    the drawn seeds of the sum over directions of the mean over the drawn queries.

    Drawing Q queries with replacement and averaging them is drawing how many times each
    distinct value comes up (multinomial, with the values' frequencies) and averaging those: the
    same distribution, at the cost of the distinct values (R@K differences take at most a few)
    instead of Q random indices per drawn seed.
    """
    directions = list(differences[0])
    n_seeds = len(differences)
    rng = np.random.default_rng(seed)
    out = np.empty(resamples)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        seeds = rng.integers(0, n_seeds, size=(size, n_seeds))
        total = np.zeros((size, n_seeds))
        for d in directions:
            # every seed's resampled means for every slot; each slot keeps the one of the seed it drew
            means = np.stack([_resampled_means(np.asarray(s[d], dtype=np.float64), rng, (size, n_seeds))
                              for s in differences])
            total += np.take_along_axis(means, seeds[None], axis=0)[0]
        out[start : start + size] = total.mean(axis=1)
    return out


def _resampled_means(values: np.ndarray, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """For each slot of ``shape``: the mean of ``len(values)`` draws with replacement from ``values``."""
    distinct, counts = np.unique(values, return_counts=True)
    draws = rng.multinomial(len(values), counts / len(values), size=shape)
    return draws @ distinct / len(values)


def paired_interval(run: Sequence[QueryResults], baseline: Sequence[QueryResults], metric: str,
                    resamples: int = RESAMPLES, seed: int = RESAMPLING_SEED) -> BootstrapInterval | None:
    """Mean difference of ``metric`` (run − baseline, seeds paired in order) and its 95% percentile
    interval by :func:`two_level_bootstrap`; None when the metric is not a sum of per-query means."""
    differences = []
    for mine, theirs in zip(run, baseline):
        a, b = per_query_values(metric, mine), per_query_values(metric, theirs)
        if a is None or b is None:
            return None
        differences.append({d: a[d] - b[d] for d in a})
    observed = float(np.mean([sum(v.mean() for v in d.values()) for d in differences]))
    draws = two_level_bootstrap(differences, resamples, seed)
    low, high = np.percentile(draws, [2.5, 97.5])
    return BootstrapInterval(observed, float(low), float(high), len(differences), resamples)


def leaderboard_intervals(records: Any, metrics: Sequence[str], resamples: int = RESAMPLES,
                          seed: int = RESAMPLING_SEED, warn: Callable[[str], None] = lambda line: None) -> Any:
    """Per (suite, dataset), each run against the leaderboard's baseline run on the seeds both have
    per-query results for: one row per run and metric (a pandas DataFrame, maybe empty).

    ``records``: :func:`itr_bench.results.leaderboard.load_records`. A run whose seeds lack per-query
    results (scored before they were kept) is left out with a warning naming the file.
    """
    import pandas as pd

    from ..errors import ItrBenchError
    from ..store.per_query import read_query_results
    from .leaderboard import KEYS, choose_baseline

    def results_of(rows: Any) -> dict[int, QueryResults]:
        found = {}
        for seed_value, record in zip(rows["seed"], rows["record"]):
            try:
                found[int(seed_value)] = read_query_results(Path(record).parent)
            except ItrBenchError as exc:
                warn(str(exc))
        return found

    out = []
    for (suite, dataset), group in records.groupby(list(KEYS[:2]), sort=False):
        baseline, _ = choose_baseline(group)
        reference = results_of(group[group["run"] == baseline])
        for run, rows in group.groupby("run", sort=False):
            if run == baseline:
                continue
            mine = results_of(rows)
            seeds = sorted(set(mine) & set(reference))
            for metric in metrics:
                interval = paired_interval([mine[s] for s in seeds], [reference[s] for s in seeds], metric,
                                           resamples, seed) if seeds else None
                if interval is not None:
                    out.append({"suite": suite, "dataset": dataset, "run": run, "baseline": baseline,
                                "metric": metric, "seeds": interval.seeds, "diff": interval.difference,
                                "query_low": interval.low, "query_high": interval.high,
                                "resamples": resamples, "resampling_seed": seed})
    return pd.DataFrame(out)


def write_intervals(table: Any, out_dir: Path) -> list[Path]:
    """``<suite>__<dataset>__query_bootstrap.csv`` per suite and dataset of ``table``, written atomically."""
    from ..store.atomic import write_text

    written = []
    for (suite, dataset), part in table.groupby(["suite", "dataset"], sort=True):
        path = Path(out_dir) / f"{suite}__{dataset}__query_bootstrap.csv"
        write_text(path, part.to_csv(index=False, float_format="%.4f"))
        written.append(path)
    return written
