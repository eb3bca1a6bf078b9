"""The report's charts (matplotlib PNG bytes): Recall@K curves and first-match rank histograms."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from ..store.per_query import QueryResults

TITLES = {"t2i": "text to image", "i2t": "image to text"}


def _figure(width: float = 6.4, height: float = 3.6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(width, height), dpi=100)


def _png(plt, fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def recall_curves(labels: Sequence[str], results: Sequence[QueryResults], direction: str) -> bytes:
    """R@K (percent of queries whose first correct match is within the top K) for K = 1..gallery, log K."""
    plt, fig, ax = _figure()
    for label, result in zip(labels, results):
        ranks = np.sort(result.directions[direction].rank)
        ks = np.unique(np.geomspace(1, max(2, ranks.max() + 1), 200).astype(int))
        ax.plot(ks, 100.0 * np.searchsorted(ranks, ks, side="left") / len(ranks), label=label)
    ax.set(xscale="log", xlabel="K", ylabel="R@K (%)", ylim=(0, 100), title=f"Recall@K, {TITLES[direction]}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(plt, fig)


def rank_histograms(labels: Sequence[str], results: Sequence[QueryResults], direction: str) -> bytes:
    """How many queries have their first correct match at each 1-based rank (log bins), one step line per run."""
    plt, fig, ax = _figure()
    largest = max(int(r.directions[direction].rank.max()) + 1 for r in results)
    edges = np.unique(np.geomspace(1, max(2, largest + 1), 30).astype(int))
    for label, result in zip(labels, results):
        ax.hist(result.directions[direction].rank + 1, bins=edges, histtype="step", linewidth=1.5, label=label)
    ax.set(xscale="log", xlabel="rank of the first correct match", ylabel="queries",
           title=f"First-match ranks, {TITLES[direction]}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(plt, fig)
