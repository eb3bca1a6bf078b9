"""Retrieval metrics as pure tensor functions.

**Ties count against the query.** A candidate that is not a match ranks above the query's best
match unless it scores *strictly lower*: a tied (or NaN-scored) negative is placed before the
match, and a NaN-scored match is placed last (so an image with one NaN caption is ranked by its
other captions, as an identity query by its other matches). Both protocols follow this one rule
(``tests/core/test_metrics.py`` checks they give equal ranks), so a model
whose embeddings collapse to a constant scores 0 (R@K = 0 wherever K is smaller than the
number of negatives), never the perfect score an optimistic rule would give it; on continuous
scores, where ties do not occur, nothing changes.

Image-caption ranks are computed by counting, not sorting: a query's rank is the number of
negatives minus the number of negatives that score strictly below its best match. That is O(N·M)
with no sort, bounded in memory by processing ``chunk`` queries at a time, so 5,000 images x
25,000 captions take well under a second on two cores, where the classic per-query argsort loop
takes tens of seconds. Identity ranks sort each query's gallery, negatives before matches within
a tie (a stable sort after placing negatives first).

The metrics computed from these ranks, and their conventions (the paper's ``compute_AP_short.m``),
are declared once in :mod:`itr_bench.metrics.declarations`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor

from .declarations import (
    DECLARED,
    IDENTITY,
    IMAGE_CAPTION,
    MetricSet,
    Ranks,
    mean_rank,
    median_rank,
    recall_at,
)

__all__ = ["TopRanked", "folded_image_caption_metrics", "identity_metrics", "identity_ranks", "image_caption_metrics",
           "image_caption_ranks", "mean_rank", "median_rank", "recall_at", "top_ranked"]

DEFAULT_CHUNK = 512
#: How many retrieved items per query the per-query results keep (and at least how many are ranked).
TOP_K = 10


@dataclass(frozen=True)
class TopRanked:
    """Each query's best-ranked gallery items, under the ties-against-the-query rule.

    ``top``: ``(Q, k)`` gallery indices, best first; ``relevant``: ``(Q, k)`` whether each is a
    correct match; ``n_relevant``: ``(Q,)`` the query's number of correct matches in the whole
    gallery (R of mAP@R). ``k`` is at least every query's R, so mAP@R and R-Precision read it.
    """

    top: Tensor
    relevant: Tensor
    n_relevant: Tensor


def top_ranked(sim: Tensor, query_label: Tensor, gallery_label: Tensor, k: int = TOP_K,
               chunk: int = DEFAULT_CHUNK) -> TopRanked:
    """The top ``max(k, largest R)`` of each query (row of ``sim``): one ``torch.topk`` per chunk.

    A gallery item is a match when its label equals the query's (image-to-text: the image's
    index against each caption's image; text-to-image: the reverse; identity: the instances).
    Ties count against the query, as for the ranks: the best negatives (from the top
    ``width + R`` of the row, NaN as +inf) and the query's matches (gathered by label, NaN as
    -inf) are merged by a stable sort that keeps negatives first among equal scores. No pass
    over a whole chunk besides the top-k, so a 5K-image test split costs about what ranking does.
    """
    n_queries, n_gallery = sim.shape
    gallery_label = gallery_label.to(sim.device)
    query_label = query_label.to(sim.device)
    counts = torch.bincount(gallery_label, minlength=int(query_label.max()) + 1 if n_queries else 0)
    n_relevant = counts[query_label]  # labels are indices or instance ids: small, non-negative
    by_label = gallery_label.argsort(stable=True)
    first_of_label = counts.cumsum(0) - counts
    r_max = int(n_relevant.max()) if n_queries else 0
    width = min(n_gallery, max(k, r_max))
    slots = torch.arange(r_max, device=sim.device)
    inf = float("inf")
    tops, relevants = [], []
    for start in range(0, n_queries, chunk):
        block, labels = sim[start : start + chunk].contiguous(), query_label[start : start + chunk, None]
        raw = block.topk(min(n_gallery, width + r_max), dim=1)
        is_negative = gallery_label[raw.indices] != labels
        match_slot = first_of_label[labels] + slots
        matches = by_label[match_slot.clamp(max=n_gallery - 1)]
        is_match = slots < n_relevant[start : start + chunk, None]
        index = torch.cat([raw.indices, matches], dim=1)
        value = torch.cat([raw.values.nan_to_num(nan=inf, posinf=inf, neginf=-inf),
                           block.gather(1, matches).nan_to_num(nan=-inf, posinf=inf, neginf=-inf)], dim=1)
        real = torch.cat([is_negative, is_match], dim=1)  # the matches in the raw top come from their own half
        relevant = torch.cat([torch.zeros_like(is_negative), is_match], dim=1)
        order = value.argsort(dim=1, descending=True, stable=True)
        order = order.gather(1, real.gather(1, order).to(torch.uint8).argsort(dim=1, descending=True, stable=True))
        order = order[:, :width]
        tops.append(index.gather(1, order))
        relevants.append(relevant.gather(1, order))
    empty = torch.empty(0, width, dtype=torch.long, device=sim.device)
    return TopRanked(torch.cat(tops) if tops else empty, torch.cat(relevants) if relevants else empty.bool(),
                     n_relevant)


def image_caption_ranks(sim: Tensor, caption_image: Tensor, chunk: int = DEFAULT_CHUNK) -> tuple[Tensor, Tensor]:
    """0-based ranks of the first correct item, image->text and text->image.

    :param sim: ``(N images, M captions)`` similarity matrix.
    :param caption_image: ``(M,)`` index of each caption's image.
    :returns: ``(N,)`` i2t ranks and ``(M,)`` t2i ranks.
    """
    n_images, n_captions = sim.shape
    if caption_image.shape != (n_captions,):
        raise ValueError(f"caption_image has shape {tuple(caption_image.shape)}, expected ({n_captions},)")
    caption_image = caption_image.to(sim.device)
    sim = _nan_against_the_query(sim, caption_image)
    # best-scoring own caption of each image (an image without captions never matches: -inf)
    best_own = torch.full((n_images,), float("-inf"), dtype=sim.dtype, device=sim.device)
    own_scores = sim[caption_image, torch.arange(n_captions, device=sim.device)]
    best_own.scatter_reduce_(0, caption_image, own_scores, reduce="amax")

    # Counting "is strictly below" as 1.0/0.0 floats and summing them with a matrix-vector
    # product is several times faster than summing booleans (BLAS instead of a generic
    # reduction); float32 counts are exact far beyond any gallery size.
    rows = min(chunk, n_images)
    counts = dict(dtype=torch.promote_types(sim.dtype, torch.float32), device=sim.device)  # exact integers
    below = torch.empty(rows, n_captions, **counts)
    ones_captions = torch.ones(n_captions, **counts)
    ones_rows = torch.ones(rows, **counts)
    i2t_below = torch.empty(n_images, **counts)
    t2i_below = torch.zeros(n_captions, **counts)
    for start in range(0, n_images, chunk):
        block = sim[start : start + chunk]  # both directions while the block is in cache
        out = below[: block.shape[0]]
        torch.lt(block, best_own[start : start + chunk, None], out=out)
        torch.mv(out, ones_captions, out=i2t_below[start : start + chunk])
        torch.lt(block, own_scores[None, :], out=out)
        t2i_below.addmv_(out.T, ones_rows[: block.shape[0]])
    # i2t: the row's count of captions below the best own caption includes the image's other own
    # captions that score below it; they are not negatives, so take them out.
    own = torch.zeros(n_images, **counts).index_add_(0, caption_image, ones_captions)
    own_is_below = (own_scores < best_own[caption_image]).to(counts["dtype"])
    own_below = torch.zeros(n_images, **counts).index_add_(0, caption_image, own_is_below)
    i2t = (n_captions - own) - (i2t_below - own_below)
    # t2i: the own image scores exactly own_scores, never strictly below it: only negatives counted
    t2i = (n_images - 1) - t2i_below
    return i2t.long(), t2i.long()


def _nan_against_the_query(sim: Tensor, caption_image: Tensor) -> Tensor:
    """``sim`` with the module's one NaN rule applied: a NaN negative scores +inf (ranks first), a
    NaN match -inf (ranks last, so an image with one NaN caption is ranked by its others, as the
    identity protocol ranks a query by its other matches). Unchanged, uncopied, without NaN."""
    nan = sim.isnan()
    if not bool(nan.any()):
        return sim
    columns = torch.arange(sim.shape[1], device=sim.device)
    own_nan = nan[caption_image, columns]
    sim = sim.masked_fill(nan, float("inf"))
    sim[caption_image[own_nan], columns[own_nan]] = float("-inf")
    return sim


def identity_ranks(sim: Tensor, query_ids: Tensor, gallery_ids: Tensor, chunk: int = DEFAULT_CHUNK) -> dict[str, Tensor]:
    """Per-query rank of the first match, average precision and inverse negative penalty.

    A match is any gallery item with the query's identity (text->image person search).

    :param sim: ``(Q queries, G gallery)`` similarities.
    :returns: ``rank`` (0-based, first match), ``ap`` and ``inp`` (mINP's per-query term:
        number of matches / 1-based rank of the hardest match), each ``(Q,)``.
    :raises ValueError: when a query's identity is not in the gallery (a broken protocol).
    """
    n_queries, n_gallery = sim.shape
    missing = ~torch.isin(query_ids, gallery_ids)
    if missing.any():
        raise ValueError(f"{int(missing.sum())} of {n_queries} queries have no matching identity in the gallery")
    ranks, aps, inps = [], [], []
    positions = torch.arange(1, n_gallery + 1, device=sim.device, dtype=torch.float64)
    gallery_ids, query_ids = gallery_ids.to(sim.device), query_ids.to(sim.device)
    for start in range(0, n_queries, chunk):
        block = sim[start : start + chunk]
        is_match = gallery_ids[None, :] == query_ids[start : start + chunk, None]
        # ties against the query: a NaN negative ranks first, a NaN match last, and a stable
        # descending sort of a row whose negatives were put first keeps tied negatives ahead
        worst = torch.where(is_match, float("-inf"), float("inf")).to(block.dtype)
        block = torch.where(block.isnan(), worst, block)
        negatives_first = is_match.to(torch.uint8).argsort(dim=1, stable=True)
        by_score = block.gather(1, negatives_first).argsort(dim=1, descending=True, stable=True)
        match = is_match.gather(1, negatives_first.gather(1, by_score))
        n_match = match.sum(1).double()
        first = match.int().argmax(1)
        hits = match.double().cumsum(1)
        ap = ((hits / positions) * match).sum(1) / n_match
        last = n_gallery - 1 - match.flip(1).int().argmax(1)
        inp = n_match / (last + 1).double()
        ranks.append(first)
        aps.append(ap)
        inps.append(inp)
    return {"rank": torch.cat(ranks), "ap": torch.cat(aps), "inp": torch.cat(inps)}


def image_caption_queries(sim: Tensor, caption_image: Tensor, chunk: int = DEFAULT_CHUNK,
                          t2i_top: bool = True) -> Ranks:
    """Every query's rank of its first match and its top-ranked items, both directions.

    ``t2i_top=False`` skips the text-to-image top lists, which no declared metric reads (a
    caption's R is 1): validation epochs need only the ranks and the image-to-text tops.
    """
    i2t, t2i = image_caption_ranks(sim, caption_image, chunk)
    images = torch.arange(sim.shape[0], device=caption_image.device)
    return Ranks(IMAGE_CAPTION, t2i=t2i, i2t=i2t, i2t_top=top_ranked(sim, images, caption_image, chunk=chunk),
                 t2i_top=top_ranked(sim.T, caption_image, images, chunk=chunk) if t2i_top else None)


def identity_queries(sim: Tensor, query_ids: Tensor, gallery_ids: Tensor, chunk: int = DEFAULT_CHUNK) -> Ranks:
    """Every text query's rank of its first match, AP, mINP term and top-ranked gallery images."""
    per_query = identity_ranks(sim, query_ids, gallery_ids, chunk)
    return Ranks(IDENTITY, t2i=per_query["rank"], ap=per_query["ap"], inp=per_query["inp"],
                 t2i_top=top_ranked(sim, query_ids, gallery_ids, chunk=chunk))


def image_caption_metrics(sim: Tensor, caption_image: Tensor, chunk: int = DEFAULT_CHUNK,
                          metrics: MetricSet = DECLARED) -> dict[str, float]:
    """The declared image-caption metrics: i2t and t2i R@K, medR, meanR, rSum, i2t mAP@R and R-Precision."""
    return metrics.compute(image_caption_queries(sim, caption_image, chunk, t2i_top=False))


def identity_metrics(sim: Tensor, query_ids: Tensor, gallery_ids: Tensor, chunk: int = DEFAULT_CHUNK,
                     metrics: MetricSet = DECLARED) -> dict[str, float]:
    """The declared text->image person-search metrics: R@K, medR, meanR, mAP, mINP, mAP@R, R-Precision, rSum."""
    return metrics.compute(identity_queries(sim, query_ids, gallery_ids, chunk))


def folded_image_caption_metrics(sim: Tensor, caption_image: Tensor, folds: int, chunk: int = DEFAULT_CHUNK,
                                 metrics: MetricSet = DECLARED) -> dict[str, float]:
    """Mean of :func:`image_caption_metrics` over ``folds`` consecutive parts of the images.

    COCO 1K: five folds of 1,000 images, each with its own captions (``evaluate1K.m``). When the
    images do not divide evenly the first parts get one image more (``numpy.array_split``).
    """
    n_images = sim.shape[0]
    if not 1 <= folds <= n_images:
        raise ValueError(f"{n_images} images cannot be cut into {folds} folds")
    sizes = [n_images // folds + (1 if i < n_images % folds else 0) for i in range(folds)]
    bounds = [0, *itertools.accumulate(sizes)]
    results = []
    for lo, hi in zip(bounds, bounds[1:]):
        captions = ((caption_image >= lo) & (caption_image < hi)).nonzero().squeeze(1)
        results.append(image_caption_metrics(sim[lo:hi][:, captions], caption_image[captions] - lo, chunk, metrics))
    return {key: sum(r[key] for r in results) / folds for key in results[0]}
