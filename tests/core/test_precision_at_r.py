"""mAP@R, R-Precision and the top-ranked lists against plain loops on random data."""

import numpy as np
import pytest
import torch

from itr_bench.metrics.ranks import (
    identity_metrics,
    identity_queries,
    image_caption_metrics,
    image_caption_queries,
    top_ranked,
)


def naive_order(scores, relevant):
    """Best first; within a tie a negative before a match (ties count against the query)."""
    return sorted(range(len(scores)), key=lambda j: (-scores[j], bool(relevant[j])))


def naive_precisions(sim, query_label, gallery_label):
    """Per query: mAP@R and R-Precision by the definition, one loop per query."""
    maps, rprecs = [], []
    for q in range(sim.shape[0]):
        relevant = [int(gallery_label[j]) == int(query_label[q]) for j in range(sim.shape[1])]
        r = sum(relevant)
        order = naive_order(sim[q].tolist(), relevant)
        hits, total = 0, 0.0
        for i, j in enumerate(order[:r], start=1):
            if relevant[j]:
                hits += 1
                total += hits / i
        maps.append(total / r)
        rprecs.append(hits / r)
    return np.array(maps), np.array(rprecs)


def _image_caption_data(seed, captions_per_image, n=23, rounded=False):
    g = torch.Generator().manual_seed(seed)
    caption_image = torch.arange(n).repeat_interleave(captions_per_image)
    caption_image = caption_image[torch.randperm(len(caption_image), generator=g)]
    sim = torch.randn(n, len(caption_image), generator=g)
    sim[caption_image, torch.arange(len(caption_image))] += torch.rand(len(caption_image), generator=g) * 2
    if rounded:  # many exact ties between matches and negatives
        sim = (sim * 2).round() / 2
    return sim, caption_image


@pytest.mark.parametrize("rounded", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_image_caption_map_at_r_matches_the_plain_loop(seed, rounded):
    sim, caption_image = _image_caption_data(seed, 5, rounded=rounded)
    maps, rprecs = naive_precisions(sim, torch.arange(sim.shape[0]), caption_image)
    got = image_caption_metrics(sim, caption_image, chunk=4)
    assert got["i2t_map_r"] == pytest.approx(100 * maps.mean())
    assert got["i2t_rprec"] == pytest.approx(100 * rprecs.mean())
    assert 0 < got["i2t_map_r"] < 100  # a case that can fail both ways


@pytest.mark.parametrize("seed", [0, 1])
def test_identity_map_at_r_matches_the_plain_loop(seed):
    g = torch.Generator().manual_seed(seed)
    gallery_ids = torch.randint(0, 9, (40,), generator=g)
    gallery_ids[:9] = torch.arange(9)
    query_ids = torch.randint(0, 9, (31,), generator=g)
    sim = torch.randn(31, 40, generator=g) + 1.2 * (query_ids[:, None] == gallery_ids[None, :])
    maps, rprecs = naive_precisions(sim, query_ids, gallery_ids)
    got = identity_metrics(sim, query_ids, gallery_ids, chunk=5)
    assert got["t2i_map_r"] == pytest.approx(100 * maps.mean())
    assert got["t2i_rprec"] == pytest.approx(100 * rprecs.mean())


def test_perfect_and_reversed_scores():
    caption_image = torch.arange(6).repeat_interleave(5)
    perfect = (torch.arange(6)[:, None] == caption_image[None, :]).float()
    assert image_caption_metrics(perfect + 0.01 * torch.rand(perfect.shape), caption_image)["i2t_map_r"] == 100
    got = image_caption_metrics(-perfect, caption_image)
    assert got["i2t_map_r"] == 0 and got["i2t_rprec"] == 0


def test_constant_scores_score_nothing():
    caption_image = torch.arange(6).repeat_interleave(5)
    got = image_caption_metrics(torch.ones(6, 30), caption_image)
    assert got["i2t_map_r"] == 0 and got["i2t_rprec"] == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("rounded", [False, True])
def test_top_lists_agree_with_the_ranks_and_the_plain_sort(rounded, dtype):
    sim, caption_image = _image_caption_data(5, 3, n=31, rounded=rounded)
    sim = sim.to(dtype)
    ranks = image_caption_queries(sim, caption_image, chunk=6)
    for direction, scores, query_label, gallery_label in (
            ("i2t", sim.float(), torch.arange(31), caption_image),
            ("t2i", sim.float().T, caption_image, torch.arange(31))):
        top = getattr(ranks, f"{direction}_top")
        rank = getattr(ranks, direction)
        assert top.top.shape[1] == 10
        for q in range(scores.shape[0]):
            relevant = (gallery_label == query_label[q]).tolist()
            order = naive_order(scores[q].tolist(), relevant)
            # the top list ranks as the plain sort does, up to the order of tied negatives
            assert [relevant[j] for j in order[:10]] == top.relevant[q].tolist()
            assert [scores[q, j].item() for j in order[:10]] == scores[q, top.top[q]].tolist()
            first = top.relevant[q].int().argmax().item() if top.relevant[q].any() else None
            assert first == (rank[q].item() if rank[q] < 10 else None)


def test_nan_scores_never_help_the_query():
    sim = torch.tensor([[float("nan"), 0.5, 0.1]])
    top = top_ranked(sim, torch.tensor([0]), torch.tensor([0, 1, 2]), k=3)
    assert top.top.tolist() == [[1, 2, 0]]  # a NaN match last
    top = top_ranked(sim, torch.tensor([1]), torch.tensor([0, 1, 2]), k=3)
    assert top.top.tolist() == [[0, 1, 2]]  # a NaN negative first


def test_identity_top_list_is_wide_enough_for_every_relevant_set():
    gallery_ids = torch.tensor([0] * 14 + [1] * 2)
    ranks = identity_queries(torch.rand(3, 16), torch.tensor([0, 1, 0]), gallery_ids)
    assert ranks.t2i_top.top.shape == (3, 14) and ranks.t2i_top.n_relevant.tolist() == [14, 2, 14]
