"""Metric speed at the COCO 5K scale: 5,000 images x 25,000 captions.

Run: python -m pytest tests/benchmarks/test_bench_metrics.py --benchmark-only -s
The target is under 1 s on a 2-core CPU for all image-caption metrics; the classic per-query
argsort loop takes about 40 s there (the baseline below times it on a 500-query slice and
scales it, so the ratio is measured in the same run). Counting ties against the query must cost
at most 1.2x the earlier strict-count rule (ties in the query's favour), which is kept below as
the baseline and timed in the same run.
"""

import time

import numpy as np
import pytest
import torch

from itr_bench.metrics.ranks import image_caption_metrics, image_caption_ranks

#: The new rule may cost at most this much more than the optimistic strict count it replaced.
TIE_RULE_BUDGET = 1.2

N_IMAGES, PER_IMAGE = 5000, 5


@pytest.fixture(scope="module")
def coco5k():
    g = torch.Generator().manual_seed(0)
    caption_image = torch.arange(N_IMAGES).repeat_interleave(PER_IMAGE)
    sim = torch.randn(N_IMAGES, N_IMAGES * PER_IMAGE, generator=g)
    sim[caption_image, torch.arange(len(caption_image))] += 2.0
    return sim, caption_image


def argsort_loop_seconds(sim, caption_image, queries=500):
    """The VSE++-era loop on a slice of queries in both directions, scaled to the full set."""
    s = sim.numpy()
    start = time.perf_counter()
    for i in range(queries):
        order = np.argsort(s[i])[::-1]
        np.where(np.isin(order, np.arange(PER_IMAGE * i, PER_IMAGE * i + PER_IMAGE)))[0].min()
    i2t = (time.perf_counter() - start) * N_IMAGES / queries
    start = time.perf_counter()
    for j in range(queries):
        order = np.argsort(s[:, j])[::-1]
        np.where(order == int(caption_image[j]))[0][0]
    t2i = (time.perf_counter() - start) * len(caption_image) / queries
    return i2t + t2i


def test_image_caption_metrics_5k(benchmark, coco5k):
    sim, caption_image = coco5k
    result = benchmark(image_caption_metrics, sim, caption_image)
    assert 0 < result["rsum"] < 600
    baseline = argsort_loop_seconds(sim, caption_image)
    mean = benchmark.stats.stats.mean
    benchmark.extra_info.update(argsort_loop_s=baseline, speedup=baseline / mean)
    print(f"\nimage_caption_metrics 5K x 25K: {mean:.3f} s; argsort loop ~{baseline:.1f} s; "
          f"speed-up x{baseline / mean:.0f}")


def strict_count_ranks(sim, caption_image, chunk=512):
    """The earlier rule, kept as the speed baseline: count candidates scoring strictly higher.

    Ties went in the query's favour (a collapsed model scored R@K = 100); the speed is the same
    counting scheme the tie-pessimistic rule must match.
    """
    n_images, n_captions = sim.shape
    best_own = torch.full((n_images,), float("-inf"), dtype=sim.dtype)
    own_scores = sim[caption_image, torch.arange(n_captions)]
    best_own.scatter_reduce_(0, caption_image, own_scores, reduce="amax")
    rows = min(chunk, n_images)
    beats = torch.empty(rows, n_captions)
    ones_captions, ones_rows = torch.ones(n_captions), torch.ones(rows)
    i2t, t2i = torch.empty(n_images), torch.zeros(n_captions)
    for start in range(0, n_images, chunk):
        block = sim[start : start + chunk]
        out = beats[: block.shape[0]]
        torch.gt(block, best_own[start : start + chunk, None], out=out)
        torch.mv(out, ones_captions, out=i2t[start : start + chunk])
        torch.gt(block, own_scores[None, :], out=out)
        t2i.addmv_(out.T, ones_rows[: block.shape[0]])
    return i2t.long(), t2i.long()


def _best_of(function, *args, rounds=7):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def test_tie_rule_costs_at_most_budget_over_strict_count(benchmark, coco5k):
    """Old and new rule timed alternately in one run (best of 7 each), so load affects both."""
    sim, caption_image = coco5k
    new_i2t, new_t2i = benchmark.pedantic(image_caption_ranks, (sim, caption_image), rounds=7, warmup_rounds=1)
    old_i2t, old_t2i = strict_count_ranks(sim, caption_image)
    # random float32 scores still tie now and then (once in this matrix): exactly those differ
    own_scores = sim[caption_image, torch.arange(len(caption_image))]
    best_own = torch.full((N_IMAGES,), float("-inf")).scatter_reduce_(0, caption_image, own_scores, reduce="amax")
    negative = caption_image[None, :] != torch.arange(N_IMAGES)[:, None]
    assert torch.equal(new_i2t - old_i2t, ((sim == best_own[:, None]) & negative).sum(1))
    assert torch.equal(new_t2i - old_t2i, (sim == own_scores[None, :]).sum(0) - 1)
    new, old = [], []
    for _ in range(3):
        new.append(_best_of(image_caption_ranks, sim, caption_image, rounds=3))
        old.append(_best_of(strict_count_ranks, sim, caption_image, rounds=3))
    ratio = min(new) / min(old)
    benchmark.extra_info.update(strict_count_s=min(old), tie_rule_s=min(new), ratio=ratio)
    print(f"\nranks 5K x 25K: ties against the query {min(new):.3f} s, strict count {min(old):.3f} s, "
          f"ratio {ratio:.2f} (budget {TIE_RULE_BUDGET})")
    assert ratio <= TIE_RULE_BUDGET
