"""The two-level paired bootstrap at the COCO 5K scale: 4 seeds x (25,000 + 5,000) queries, 10,000 resamples.

Run: python -m pytest tests/benchmarks/test_bench_query_bootstrap.py --benchmark-only -s
Drawing each resampled seed's query counts (multinomial over the distinct per-query differences)
instead of 30,000 query indices is what keeps it short; the index draw is timed on 200 resamples
in the same run and scaled, so the ratio is measured, not assumed.
"""

import time

import numpy as np
import pytest

from itr_bench.results.query_bootstrap import RESAMPLES, two_level_bootstrap


@pytest.fixture(scope="module")
def differences():
    rng = np.random.default_rng(0)
    return [{"t2i": 100.0 * (rng.random(25_000) < 0.4) - 100.0 * (rng.random(25_000) < 0.35),
             "i2t": 100.0 * (rng.random(5_000) < 0.5) - 100.0 * (rng.random(5_000) < 0.45)} for _ in range(4)]


def index_draw_seconds(differences, resamples=200):
    """The plain way: draw every resampled query's index, gather, average; scaled to RESAMPLES."""
    rng = np.random.default_rng(0)
    stacked = {d: np.stack([s[d] for s in differences]) for d in differences[0]}
    start = time.perf_counter()
    seeds = rng.integers(0, len(differences), size=(resamples, len(differences)))
    for values in stacked.values():
        queries = rng.integers(0, values.shape[1], size=(resamples, len(differences), values.shape[1]))
        values[seeds[:, :, None], queries].mean(axis=2)
    return (time.perf_counter() - start) * RESAMPLES / resamples


def test_query_bootstrap_coco5k(benchmark, differences):
    draws = benchmark(two_level_bootstrap, differences)
    assert draws.shape == (RESAMPLES,)
    baseline = index_draw_seconds(differences)
    mean = benchmark.stats.stats.mean
    benchmark.extra_info.update(index_draw_s=baseline, speedup=baseline / mean)
    print(f"\ntwo-level bootstrap, 4 seeds x 30K queries, {RESAMPLES} resamples: {mean:.3f} s; "
          f"index draw ~{baseline:.1f} s; speed-up x{baseline / mean:.0f}")
