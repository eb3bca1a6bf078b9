"""Statistics for "does run A beat run B?": Student-t intervals over seeds, paired by seed.

Seed k of every run in a suite starts from the same encoder weights and sees the same batches
(see ``itr_bench.engine.run.own_stream``), so two runs are compared seed by seed: the mean of
the per-seed differences with its 95% t-interval (what ``scipy.stats.ttest_rel`` tests). A
difference is called *better* or *worse* only when that interval excludes zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

#: Below this many seeds a t-interval is computed where it can be but must not be trusted.
RELIABLE_N = 3
BETTER, WORSE, NO_DIFFERENCE, BASELINE = "better", "worse", "no difference", "baseline"
#: The mark of a comparison with fewer than two shared seeds (no interval exists).
UNTESTED = "untested"


def t_quantile(n: int, confidence: float = 0.95) -> float:
    """Two-sided Student-t quantile for n samples (nan for fewer than 2)."""
    if n < 2:
        return math.nan
    from scipy.stats import t

    return float(t.ppf(0.5 + confidence / 2, n - 1))


def t_half_width(values: list[float], confidence: float = 0.95) -> float:
    """Half-width of the t-interval of the mean of ``values`` (nan for fewer than 2)."""
    n = len(values)
    if n < 2:
        return math.nan
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return t_quantile(n, confidence) * sd / math.sqrt(n)


@dataclass(frozen=True)
class PairedDifference:
    """``run - baseline`` over the seeds both have: mean, interval bounds, n and the verdict."""

    n: int
    mean: float
    low: float
    high: float
    mark: str


def paired_difference(run: Mapping[int, float], baseline: Mapping[int, float], *, confidence: float = 0.95,
                      higher_is_better: bool = True) -> PairedDifference:
    """The mean paired difference ``run - baseline`` with its t-interval and a mark.

    Only seeds present in both count (a seed one run lacks has no pair). With one shared seed the
    difference is given without an interval and marked ``untested``; with none, everything is nan.
    """
    seeds = sorted(set(run) & set(baseline))
    differences = [float(run[s]) - float(baseline[s]) for s in seeds]
    n = len(differences)
    if n == 0:
        return PairedDifference(0, math.nan, math.nan, math.nan, UNTESTED)
    mean = sum(differences) / n
    half = t_half_width(differences, confidence)
    if math.isnan(half):
        return PairedDifference(n, mean, math.nan, math.nan, UNTESTED)
    low, high = mean - half, mean + half
    if low > 0 or high < 0:
        up = low > 0
        mark = BETTER if up == higher_is_better else WORSE
    else:
        mark = NO_DIFFERENCE
    return PairedDifference(n, mean, low, high, mark)
