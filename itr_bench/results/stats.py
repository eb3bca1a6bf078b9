"""Statistics for "does run A beat run B?": Student-t intervals over seeds, paired by seed.

Seed k of every run in a suite starts from the same encoder weights and sees the same batches
(see ``itr_bench.engine.run.own_stream``), so two runs are compared seed by seed: the mean of
the per-seed differences with its 95% t-interval and the two-sided p-value of
``scipy.stats.ttest_rel``.

A leaderboard makes many such comparisons, so its marks are corrected for them (:func:`correct`):
the *family* is one metric's comparisons with the baseline within one table (one suite on one
dataset), and Holm's step-down correction (``statsmodels`` ``multipletests(method="holm")``)
keeps the chance of any false *better* / *worse* in it at most 5%. A difference is *better* or
*worse* when its Holm-adjusted p-value is below 0.05; otherwise it is *inconclusive*, never "no
difference": an interval that contains 0 does not show the runs are alike. That needs an
equivalence test, TOST (two one-sided paired t-tests against ``±margin``), which the leaderboard
runs when given a margin; its p-values are Holm-corrected over the same family, and a
difference whose adjusted TOST p-value is below 0.05 is *equivalent* (within the margin).
With fewer than :data:`FEW_SEEDS` seeds a t-interval cannot check its own assumption (roughly
normal per-seed differences; bimodal seeds break it), which the tables say.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

#: Below this many seeds a t-interval is computed where it can be but must not be trusted.
RELIABLE_N = 3
#: Below this many seeds the tables say the intervals rest on few seeds (normality unchecked).
FEW_SEEDS = 5
#: The family-wise error rate of a table's marks (per metric) and the equivalence tests' level.
ALPHA = 0.05
BETTER, WORSE, INCONCLUSIVE, EQUIVALENT, BASELINE = "better", "worse", "inconclusive", "equivalent", "baseline"
#: The mark of a comparison with fewer than two shared seeds (no interval exists).
UNTESTED = "untested"
#: How the marks are corrected, in words, for tables and their notes.
CORRECTION = "Holm"


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
    """``run - baseline`` over the seeds both have: mean, interval bounds, n, p-values and the verdict.

    ``p`` is the two-sided paired t-test's; ``p_equivalence`` the TOST p-value against the margin
    (nan without one). Out of :func:`paired_difference` they are raw, the comparison its own
    family; :func:`correct` replaces them with their Holm-adjusted values and re-marks.
    """

    n: int
    mean: float
    low: float
    high: float
    mark: str
    p: float = math.nan
    p_equivalence: float = math.nan


def paired_difference(run: Mapping[int, float], baseline: Mapping[int, float], *, confidence: float = 0.95,
                      higher_is_better: bool = True, margin: float | None = None) -> PairedDifference:
    """The mean paired difference ``run - baseline`` with its t-interval, p-values and a mark.

    Only seeds present in both count (a seed one run lacks has no pair). With one shared seed the
    difference is given without an interval and marked ``untested``; with none, everything is nan.
    ``margin`` (in the metric's units) adds the TOST equivalence p-value.
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
    p = _t_test([float(run[s]) for s in seeds], [float(baseline[s]) for s in seeds])
    p_equivalence = equivalence_p(differences, margin) if margin is not None else math.nan
    return PairedDifference(n, mean, mean - half, mean + half,
                            mark_of(mean, p, p_equivalence, higher_is_better), p, p_equivalence)


def _t_test(run: Sequence[float], baseline: Sequence[float]) -> float:
    """Two-sided p of the paired t-test (``scipy.stats.ttest_rel``); differences without spread
    (where scipy gives nan for 0/0) are 1 when all are 0, else 0."""
    from scipy.stats import ttest_rel

    differences = [a - b for a, b in zip(run, baseline)]
    if all(d == differences[0] for d in differences):
        return 1.0 if differences[0] == 0 else 0.0
    return float(ttest_rel(run, baseline).pvalue)


def equivalence_p(differences: Sequence[float], margin: float) -> float:
    """TOST p-value that the mean paired difference lies within ``(-margin, +margin)``.

    The larger of the two one-sided paired t-tests ``mean > -margin`` and ``mean < +margin``.
    """
    from scipy.stats import ttest_1samp

    if margin <= 0:
        raise ValueError(f"an equivalence margin must be positive, got {margin}")
    if all(d == differences[0] for d in differences):
        return 0.0 if abs(differences[0]) < margin else 1.0
    above = ttest_1samp(differences, -margin, alternative="greater").pvalue
    below = ttest_1samp(differences, margin, alternative="less").pvalue
    return float(max(above, below))


def mark_of(mean: float, p: float, p_equivalence: float, higher_is_better: bool, alpha: float = ALPHA) -> str:
    """better / worse when ``p < alpha``, equivalent when the TOST ``p_equivalence < alpha``, else
    inconclusive (nan p-values never reject)."""
    if p < alpha:
        return BETTER if (mean > 0) == higher_is_better else WORSE
    if p_equivalence < alpha:
        return EQUIVALENT
    return INCONCLUSIVE


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values; a nan (an untested comparison) stays nan and is not in the family."""
    from statsmodels.stats.multitest import multipletests

    tested = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    adjusted = [math.nan] * len(p_values)
    if tested:
        for i, value in zip(tested, multipletests([p_values[i] for i in tested], method="holm")[1]):
            adjusted[i] = float(value)
    return adjusted


def correct(family: Sequence[PairedDifference], higher_is_better: bool = True) -> list[PairedDifference]:
    """The family's differences with Holm-adjusted p-values (both tests) and their marks."""
    p = holm([d.p for d in family])
    p_equivalence = holm([d.p_equivalence for d in family])
    return [d if d.mark == UNTESTED else replace(d, p=a, p_equivalence=e, mark=mark_of(d.mean, a, e, higher_is_better))
            for d, a, e in zip(family, p, p_equivalence)]
