"""Metrics against a naive per-query argsort implementation on random data."""

import numpy as np
import pytest
import torch

from itr_bench.metrics.ranks import (
    folded_image_caption_metrics,
    identity_metrics,
    identity_ranks,
    image_caption_metrics,
    image_caption_ranks,
    median_rank,
)


def naive_image_caption(sim, caption_image):
    """The VSE++-era loop: sort each query's candidates, find the first correct one."""
    sim = sim.numpy()
    n_images, n_captions = sim.shape
    i2t = []
    for i in range(n_images):
        order = np.argsort(-sim[i], kind="stable")
        i2t.append(min(np.where(order == j)[0][0] for j in range(n_captions) if caption_image[j] == i))
    t2i = []
    for j in range(n_captions):
        order = np.argsort(-sim[:, j], kind="stable")
        t2i.append(np.where(order == int(caption_image[j]))[0][0])
    return np.array(i2t), np.array(t2i)


def naive_summary(ranks):
    ranks = ranks + 1
    out = {f"r{k}": 100.0 * np.mean(ranks <= k) for k in (1, 5, 10)}
    out["medr"] = next(k for k in range(1, ranks.max() + 1) if np.mean(ranks <= k) > 0.5)
    out["meanr"] = ranks.mean()
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("captions_per_image", [1, 5])
def test_image_caption_metrics_match_naive(seed, captions_per_image):
    g = torch.Generator().manual_seed(seed)
    n = 37
    caption_image = torch.arange(n).repeat_interleave(captions_per_image)
    caption_image = caption_image[torch.randperm(len(caption_image), generator=g)]
    # partly informative scores so ranks spread over the whole range
    sim = torch.randn(n, len(caption_image), generator=g)
    sim[caption_image, torch.arange(len(caption_image))] += torch.rand(len(caption_image), generator=g) * 3
    i2t, t2i = naive_image_caption(sim, caption_image)
    got = image_caption_metrics(sim, caption_image, chunk=5)  # small chunks exercise the loop
    for direction, ranks in (("i2t", i2t), ("t2i", t2i)):
        for key, value in naive_summary(ranks).items():
            assert got[f"{direction}_{key}"] == pytest.approx(value), (direction, key)
    assert got["rsum"] == pytest.approx(sum(got[f"{d}_r{k}"] for d in ("i2t", "t2i") for k in (1, 5, 10)))


def test_perfect_and_reversed_scores():
    caption_image = torch.arange(10).repeat_interleave(5)
    perfect = (torch.arange(10)[:, None] == caption_image[None, :]).float()
    got = image_caption_metrics(perfect, caption_image)
    assert got["rsum"] == 600 and got["i2t_medr"] == 1 and got["t2i_meanr"] == 1
    got = image_caption_metrics(-perfect, caption_image)
    assert got["i2t_r1"] == 0 and got["t2i_meanr"] == 10


def test_median_rank_is_the_cmc_definition():
    # 1-based ranks 1,1,2,2: CMC(1) = 0.5 is not > 0.5, so medR = 2 (VSE++ would say 1)
    assert median_rank(torch.tensor([0, 0, 1, 1])) == 2
    assert median_rank(torch.tensor([0, 0, 1])) == 1


def test_folds_average_independent_parts():
    g = torch.Generator().manual_seed(3)
    caption_image = torch.arange(20).repeat_interleave(5)
    sim = torch.randn(20, 100, generator=g)
    folded = folded_image_caption_metrics(sim, caption_image, folds=4)
    parts = []
    for f in range(4):
        cols = ((caption_image >= 5 * f) & (caption_image < 5 * f + 5)).nonzero().squeeze(1)
        parts.append(image_caption_metrics(sim[5 * f : 5 * f + 5][:, cols], caption_image[cols] - 5 * f))
    for key in folded:
        assert folded[key] == pytest.approx(np.mean([p[key] for p in parts]))
    uneven = folded_image_caption_metrics(sim, caption_image, folds=3)  # 7 + 7 + 6 images
    parts = [image_caption_metrics(sim[lo:hi][:, 5 * lo : 5 * hi], caption_image[5 * lo : 5 * hi] - lo)
             for lo, hi in ((0, 7), (7, 14), (14, 20))]
    assert uneven["rsum"] == pytest.approx(np.mean([p["rsum"] for p in parts]))
    with pytest.raises(ValueError, match="cannot be cut into 21 folds"):
        folded_image_caption_metrics(sim, caption_image, folds=21)


def naive_identity(sim, query_ids, gallery_ids):
    ranks, aps, inps = [], [], []
    for q in range(sim.shape[0]):
        order = np.argsort(-sim[q].numpy(), kind="stable")
        good = (gallery_ids.numpy()[order] == int(query_ids[q]))
        hit_positions = np.where(good)[0] + 1
        ranks.append(hit_positions[0] - 1)
        aps.append(np.mean([(i + 1) / p for i, p in enumerate(hit_positions)]))
        inps.append(len(hit_positions) / hit_positions[-1])
    return np.array(ranks), np.array(aps), np.array(inps)


@pytest.mark.parametrize("seed", [0, 1])
def test_identity_metrics_match_naive(seed):
    g = torch.Generator().manual_seed(seed)
    gallery_ids = torch.randint(0, 12, (60,), generator=g)
    gallery_ids[:12] = torch.arange(12)  # every identity present
    query_ids = torch.randint(0, 12, (45,), generator=g)
    sim = torch.randn(45, 60, generator=g) + 1.5 * (query_ids[:, None] == gallery_ids[None, :])
    ranks, aps, inps = naive_identity(sim, query_ids, gallery_ids)
    got = identity_metrics(sim, query_ids, gallery_ids, chunk=7)
    for k in (1, 5, 10):
        assert got[f"t2i_r{k}"] == pytest.approx(100 * np.mean(ranks < k))
    assert got["map"] == pytest.approx(100 * aps.mean())
    assert got["minp"] == pytest.approx(100 * inps.mean())
    assert got["t2i_meanr"] == pytest.approx((ranks + 1).mean())


def test_identity_query_without_gallery_match_is_an_error():
    with pytest.raises(ValueError, match="1 of 2 queries have no matching identity"):
        identity_metrics(torch.randn(2, 3), torch.tensor([0, 9]), torch.tensor([0, 1, 2]))


def test_low_precision_similarities_count_exactly():
    g = torch.Generator().manual_seed(4)
    caption_image = torch.arange(300).repeat_interleave(2)
    sim = torch.randn(300, 600, generator=g).bfloat16()
    assert image_caption_metrics(sim, caption_image) == image_caption_metrics(sim.float(), caption_image)


# --------------------------------------------------------------------------------------------
# Ties count against the query: an independent plain-loop oracle
# --------------------------------------------------------------------------------------------


def pessimistic_image_caption(sim, caption_image):
    """0-based ranks where every negative not scoring strictly below the match ranks above it."""
    sim, caption_image = sim.tolist(), caption_image.tolist()
    n_images, n_captions = len(sim), len(caption_image)
    i2t = []
    for i in range(n_images):
        best = max(sim[i][j] for j in range(n_captions) if caption_image[j] == i)
        i2t.append(sum(1 for j in range(n_captions) if caption_image[j] != i and not sim[i][j] < best))
    t2i = []
    for j in range(n_captions):
        own = sim[caption_image[j]][j]
        t2i.append(sum(1 for i in range(n_images) if i != caption_image[j] and not sim[i][j] < own))
    return np.array(i2t), np.array(t2i)


def pessimistic_identity(sim, query_ids, gallery_ids):
    """Rank, AP and INP with every tied negative placed before the tied matches."""
    sim, query_ids, gallery_ids = sim.tolist(), query_ids.tolist(), gallery_ids.tolist()
    ranks, aps, inps = [], [], []
    for q, scores in enumerate(sim):
        match = [g == query_ids[q] for g in gallery_ids]

        def ahead(h, g):  # does item h come before item g?
            if scores[h] != scores[g]:
                return scores[h] > scores[g]
            if match[h] != match[g]:
                return not match[h]
            return h < g

        positions = sorted(1 + sum(ahead(h, g) for h in range(len(scores)) if h != g)
                           for g in range(len(scores)) if match[g])
        ranks.append(positions[0] - 1)
        aps.append(np.mean([(k + 1) / p for k, p in enumerate(positions)]))
        inps.append(len(positions) / positions[-1])
    return np.array(ranks), np.array(aps), np.array(inps)


def _embeddings(kind, n, d, generator):
    """Unit-norm embeddings: continuous, constant, with duplicated rows, or quantised to 3 levels."""
    x = torch.randn(n, d, generator=generator)
    if kind == "constant":
        x = torch.ones(n, d)
    elif kind == "duplicated":
        x = x[torch.randint(0, max(2, n // 4), (n,), generator=generator)]
    elif kind == "quantised":
        x = torch.bucketize(x, torch.tensor([-0.5, 0.5])).float() - 1
        x[x.abs().sum(1) == 0, 0] = 1.0
    return torch.nn.functional.normalize(x, dim=1)


KINDS = ["continuous", "constant", "duplicated", "quantised"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_image_caption_ties_count_against_the_query(kind, seed):
    g = torch.Generator().manual_seed(seed)
    n, per_image = 23, 3
    caption_image = torch.arange(n).repeat_interleave(per_image)
    caption_image = caption_image[torch.randperm(len(caption_image), generator=g)]
    images = _embeddings(kind, n, 4, g)
    # captions near their image (so ranks spread), with the same kind of degeneracy
    texts = _embeddings(kind, len(caption_image), 4, g) + (images[caption_image] if kind == "continuous" else 0)
    sim = images @ torch.nn.functional.normalize(texts, dim=1).T
    i2t, t2i = pessimistic_image_caption(sim, caption_image)
    got = image_caption_metrics(sim, caption_image, chunk=4)
    for direction, ranks in (("i2t", i2t), ("t2i", t2i)):
        for key, value in naive_summary(ranks).items():
            assert got[f"{direction}_{key}"] == pytest.approx(value), (kind, direction, key)
    if kind == "continuous":  # no ties: the optimistic (argsort) ranks are the same
        naive_i2t, naive_t2i = naive_image_caption(sim, caption_image)
        assert (naive_i2t == i2t).all() and (naive_t2i == t2i).all()


@pytest.mark.parametrize("kind", KINDS)
def test_identity_ties_count_against_the_query(kind):
    g = torch.Generator().manual_seed(5)
    gallery_ids = torch.randint(0, 8, (40,), generator=g)
    gallery_ids[:8] = torch.arange(8)
    query_ids = torch.randint(0, 8, (30,), generator=g)
    sim = _embeddings(kind, 30, 4, g) @ _embeddings(kind, 40, 4, g).T
    if kind == "continuous":
        sim = sim + 1.5 * (query_ids[:, None] == gallery_ids[None, :])
    ranks, aps, inps = pessimistic_identity(sim, query_ids, gallery_ids)
    got = identity_metrics(sim, query_ids, gallery_ids, chunk=7)
    for k in (1, 5, 10):
        assert got[f"t2i_r{k}"] == pytest.approx(100 * np.mean(ranks < k)), (kind, k)
    assert got["t2i_meanr"] == pytest.approx((ranks + 1).mean())
    assert got["map"] == pytest.approx(100 * aps.mean())
    assert got["minp"] == pytest.approx(100 * inps.mean())


def test_constant_embeddings_score_nothing_in_either_protocol():
    caption_image = torch.arange(20).repeat_interleave(5)
    got = image_caption_metrics(torch.zeros(20, 100), caption_image)
    assert got["rsum"] == 0
    assert got["i2t_meanr"] == 96 and got["t2i_meanr"] == 20  # every negative ranked above the match
    ids = torch.arange(20).repeat(2)
    got = identity_metrics(torch.ones(40, 40), ids, ids)
    assert got["rsum"] == 0 and got["t2i_meanr"] == 39


def test_nan_scores_never_help_the_query():
    caption_image = torch.arange(4)
    sim = torch.eye(4)
    sim[0, 0] = float("nan")  # a NaN match ranks last
    sim[1, 2] = float("nan")  # a NaN negative ranks first
    i2t, t2i = image_caption_ranks(sim, caption_image)
    assert i2t.tolist() == [3, 1, 0, 0] and t2i.tolist() == [3, 0, 1, 0]
    got = identity_ranks(sim, caption_image, caption_image)
    assert got["rank"].tolist() == [3, 1, 0, 0]


def test_one_nan_rule_for_both_protocols():
    """An image with one NaN caption is ranked by its other captions, as the identity protocol ranks
    a query with one NaN match by its other matches: both give the same ranks on NaN-riddled scores."""
    caption_image = torch.tensor([0, 0, 1, 1, 2, 2])
    sim = torch.full((3, 6), 0.1)
    sim[0, 0], sim[0, 1] = float("nan"), 0.9  # the NaN caption does not sink image 0's best one
    sim[1, 2], sim[1, 3] = 0.8, 0.7
    sim[2, 4], sim[2, 5] = float("nan"), float("nan")  # no finite match left: last
    i2t, t2i = image_caption_ranks(sim, caption_image)
    assert i2t.tolist() == [0, 0, 4] and t2i.tolist() == [2, 0, 0, 0, 2, 2]
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        sim = torch.randn(7, 21, generator=generator)
        sim[torch.rand(7, 21, generator=generator) < 0.15] = float("nan")
        caption_image = torch.arange(7).repeat_interleave(3)
        i2t, t2i = image_caption_ranks(sim, caption_image)
        assert torch.equal(i2t, identity_ranks(sim, torch.arange(7), caption_image)["rank"])
        assert torch.equal(t2i, identity_ranks(sim.T, caption_image, torch.arange(7))["rank"])
