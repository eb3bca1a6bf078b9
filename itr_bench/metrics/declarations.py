"""Every retrieval metric declared once: what it reads, which way is better, how it is shown.

A :class:`Metric` says its name (the key in records), its label, its direction (image-to-text,
text-to-image or both), the protocols that report it, how it is computed from a split's ranks,
whether higher is better, whether it may select the best validation epoch, whether the
leaderboard compares it with the baseline seed by seed, the range it can take and its format.
Evaluation computes exactly the declared metrics (:meth:`MetricSet.compute`); model selection
(``select_metric``), the leaderboard (columns, their order, the sort, the paired Δ columns, the
chart's range) and the CLI's summaries all read :data:`DECLARED`. Adding a metric is adding one
:class:`Metric` there; a program (or a test) may extend it (``DECLARED.extended(...)``) and pass
the result where a ``metrics`` argument is taken.

Conventions (the paper's ``compute_AP_short.m``): R@K is the percentage of queries whose first
correct item is within the top K; medR is the smallest K at which that fraction exceeds 0.5
(VSE++ scripts use ``floor(median(rank)) + 1``, which differs by one on some even-sized sets);
meanR is the mean 1-based rank of the first correct item; rSum is the sum of the R@1/5/10 the
protocol reports (six for image-caption, three for identity).

mAP@R and R-Precision (Musgrave, Belongie and Lim, "A Metric Learning Reality Check", 2020) read
a query's whole relevant set, not only its first match. R is the number of gallery items
relevant to the query; R-Precision is the fraction of the top R that are relevant, and mAP@R is
(1/R) Σ_{i≤R} P@i·rel(i), the average precision cut at R. Image-caption: declared image-to-text,
the query an image and its relevant set the image's own captions (R = 5 in COCO and Flickr), so
they say whether all of an image's captions come first, not only one. Text-to-image a caption has
exactly one relevant image (R = 1), where both equal R@1, so they are not declared that way.
Identity (text-to-image person search): the relevant set of a caption is every gallery image of
its identity. Ties count against the query (:func:`itr_bench.metrics.ranks.top_ranked`); percent.

This module does not import torch: the leaderboard and the config read it without paying for it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from torch import Tensor

    from .ranks import TopRanked

IMAGE_CAPTION, IDENTITY = "image-caption", "identity"  # the values of itr_bench.api.Protocol
IMAGE_TO_TEXT, TEXT_TO_IMAGE, BOTH = "image-to-text", "text-to-image", "both"
#: The K of the declared R@K.
RECALL_KS: tuple[int, ...] = (1, 5, 10)


@dataclass(frozen=True)
class Ranks:
    """What one scored split gives its metrics to read.

    ``t2i``: 0-based rank of each caption's first correct image; ``i2t``: of each image's first
    correct caption (None under the identity protocol, which scores text to image only);
    ``ap`` and ``inp``: each query's average precision and mINP term (identity only);
    ``i2t_top`` and ``t2i_top``: each query's top-ranked items
    (:class:`itr_bench.metrics.ranks.TopRanked`), for mAP@R, R-Precision and the per-query results.
    """

    protocol: str
    t2i: Tensor
    i2t: Tensor | None = None
    ap: Tensor | None = None
    inp: Tensor | None = None
    i2t_top: TopRanked | None = None
    t2i_top: TopRanked | None = None


def recall_at(ranks: Tensor, ks: Iterable[int] = RECALL_KS) -> dict[int, float]:
    """R@K in percent from 0-based ranks of the first correct item."""
    return {k: 100.0 * (ranks < k).double().mean().item() for k in ks}


def median_rank(ranks: Tensor) -> float:
    """Smallest K with more than half the queries' first match within the top K (the paper's)."""
    ordered = (ranks + 1).sort().values
    return float(ordered[len(ordered) // 2].item())


def mean_rank(ranks: Tensor) -> float:
    return (ranks + 1).double().mean().item()


def _within_r(top: TopRanked) -> tuple[Tensor, Tensor, Tensor]:
    """The relevance of each query's top R (as 0/1 float64, zero past R), the 1-based positions, and R >= 1."""
    relevant = top.relevant.double()
    positions = relevant.new_ones(relevant.shape).cumsum(1)
    n_relevant = top.n_relevant.to(relevant.device)
    within = relevant * (positions <= n_relevant[:, None])
    return within, positions, n_relevant.clamp(min=1).double()


def r_precision(top: TopRanked) -> Tensor:
    """Per query: the fraction of its top R that are relevant (R = its number of relevant items)."""
    within, _, n_relevant = _within_r(top)
    return within.sum(1) / n_relevant


def map_at_r(top: TopRanked) -> Tensor:
    """Per query: (1/R) Σ_{i≤R} P@i·rel(i), where P@i is the precision of the top i."""
    within, positions, n_relevant = _within_r(top)
    return (within * within.cumsum(1) / positions).sum(1) / n_relevant


def _precision(direction: str, per_query: Callable[[TopRanked], Tensor]) -> Callable[[Ranks], float]:
    return lambda ranks: 100.0 * per_query(getattr(ranks, f"{direction}_top")).mean().item()


def _rsum(ranks: Ranks) -> float:
    """The sum of the protocol's R@1/5/10, image-to-text first (the order the records always summed)."""
    return sum(value for direction in (ranks.i2t, ranks.t2i) if direction is not None
               for value in recall_at(direction).values())


def _recall(direction: str, k: int) -> Callable[[Ranks], float]:
    return lambda ranks: recall_at(getattr(ranks, direction), (k,))[k]


def _of(direction: str, summary: Callable[[Tensor], float]) -> Callable[[Ranks], float]:
    return lambda ranks: summary(getattr(ranks, direction))


def _percent_mean(field: str) -> Callable[[Ranks], float]:
    return lambda ranks: 100.0 * getattr(ranks, field).mean().item()


@dataclass(frozen=True)
class Metric:
    """One metric, as every part of itr-bench sees it."""

    #: the key in metric tables, records and leaderboard columns, e.g. ``i2t_r1``
    name: str
    #: how people read it, e.g. ``R@1 image-to-text``
    label: str
    direction: Literal["image-to-text", "text-to-image", "both"]
    #: the protocols that report it (``itr_bench.api.Protocol`` values)
    protocols: frozenset[str]
    #: its value on one scored split
    compute: Callable[[Ranks], float]
    higher_is_better: bool = True
    #: may choose the best validation epoch (``select_metric``)
    selectable: bool = True
    #: the leaderboard compares it with the suite's baseline run seed by seed (Δ columns)
    paired: bool = False
    #: the values it can take; the chart's whiskers never leave them
    bounds: tuple[float, float] = (-math.inf, math.inf)
    #: how the leaderboard's Markdown shows a value (a format spec)
    format: str = ".1f"
    #: declared after records were first written: a run whose older seeds lack it shows no value
    #: for it (rather than the leaderboard refusing the run as incomplete)
    newer: bool = False

    def better(self, value: float, than: float) -> bool:
        """Whether ``value`` is strictly better than ``than`` (a tie keeps the earlier epoch)."""
        return value > than if self.higher_is_better else value < than


def _recalls(prefix: str, direction: str, protocols: frozenset[str], paired_k: int | None) -> list[Metric]:
    return [Metric(f"{prefix}_r{k}", f"R@{k} {direction}", direction, protocols, _recall(prefix, k),
                   paired=k == paired_k, bounds=(0.0, 100.0)) for k in RECALL_KS]


def _ranks(prefix: str, direction: str, protocols: frozenset[str], statistic: str) -> Metric:
    summary = median_rank if statistic == "medr" else mean_rank
    label = "median rank" if statistic == "medr" else "mean rank"
    # medR is a whole number that often stays put for epochs: too coarse to choose one
    return Metric(f"{prefix}_{statistic}", f"{label} {direction}", direction, protocols, _of(prefix, summary),
                  higher_is_better=False, selectable=statistic != "medr", bounds=(1.0, math.inf))


class MetricSet:
    """Declared metrics in the order every table lists them; immutable (extend it into a new one)."""

    def __init__(self, metrics: Iterable[Metric]) -> None:
        self._metrics = tuple(metrics)
        names = [m.name for m in self._metrics]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"metric {repeated[0]!r} is declared twice")
        self._by_name = {m.name: m for m in self._metrics}

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._metrics)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> Metric:
        return self._by_name[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    @property
    def primary(self) -> Metric:
        """The first declared: the leaderboard's sort, its chart and the one-line summaries."""
        return self._metrics[0]

    @property
    def paired(self) -> tuple[str, ...]:
        return tuple(m.name for m in self._metrics if m.paired)

    def extended(self, *metrics: Metric) -> MetricSet:
        """These metrics and ``metrics`` after them."""
        return MetricSet((*self._metrics, *metrics))

    def compute(self, ranks: Ranks) -> dict[str, float]:
        """Every metric ``ranks.protocol`` reports, in declaration order."""
        return {m.name: m.compute(ranks) for m in self._metrics if ranks.protocol in m.protocols}

    def selection(self, name: str, where: str, key: str = "select_metric") -> Metric:
        """The metric ``name`` to select the best validation epoch by; otherwise one line naming ``key``."""
        choices = [m.name for m in self._metrics if m.selectable]
        if name not in choices:
            why = "cannot select the best epoch" if name in self else "is not a declared metric"
            raise ConfigError(f"{where}: {key}: {name!r} {why}, {did_you_mean(name, choices)}")
        return self._by_name[name]

    def ordered(self, values: Mapping[str, float]) -> list[tuple[str, float]]:
        """``values`` with the declared metrics first, in declaration order, then the rest as given."""
        return ([(n, values[n]) for n in self.names if n in values]
                + [(n, v) for n, v in values.items() if n not in self._by_name])


_BOTH = frozenset({IMAGE_CAPTION, IDENTITY})
_IMAGE_CAPTION = frozenset({IMAGE_CAPTION})
_IDENTITY = frozenset({IDENTITY})

#: The metrics itr-bench computes, records, selects by and shows, in the leaderboard's order.
DECLARED = MetricSet([
    Metric("rsum", "rSum", BOTH, _BOTH, _rsum, paired=True, bounds=(0.0, 100.0 * 2 * len(RECALL_KS))),
    *_recalls("i2t", IMAGE_TO_TEXT, _IMAGE_CAPTION, paired_k=1),
    *_recalls("t2i", TEXT_TO_IMAGE, _BOTH, paired_k=1),
    Metric("map", "mAP", TEXT_TO_IMAGE, _IDENTITY, _percent_mean("ap"), bounds=(0.0, 100.0)),
    Metric("minp", "mINP", TEXT_TO_IMAGE, _IDENTITY, _percent_mean("inp"), bounds=(0.0, 100.0)),
    Metric("i2t_map_r", "mAP@R image-to-text", IMAGE_TO_TEXT, _IMAGE_CAPTION, _precision("i2t", map_at_r),
           bounds=(0.0, 100.0), newer=True),
    Metric("i2t_rprec", "R-Precision image-to-text", IMAGE_TO_TEXT, _IMAGE_CAPTION, _precision("i2t", r_precision),
           bounds=(0.0, 100.0), newer=True),
    Metric("t2i_map_r", "mAP@R text-to-image", TEXT_TO_IMAGE, _IDENTITY, _precision("t2i", map_at_r),
           bounds=(0.0, 100.0), newer=True),
    Metric("t2i_rprec", "R-Precision text-to-image", TEXT_TO_IMAGE, _IDENTITY, _precision("t2i", r_precision),
           bounds=(0.0, 100.0), newer=True),
    _ranks("i2t", IMAGE_TO_TEXT, _IMAGE_CAPTION, "medr"),
    _ranks("t2i", TEXT_TO_IMAGE, _BOTH, "medr"),
    _ranks("i2t", IMAGE_TO_TEXT, _IMAGE_CAPTION, "meanr"),
    _ranks("t2i", TEXT_TO_IMAGE, _BOTH, "meanr"),
])
#: What selects the best validation epoch unless a run says otherwise.
DEFAULT_SELECT = "rsum"
