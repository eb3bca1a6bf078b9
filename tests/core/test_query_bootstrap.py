"""The two-level paired bootstrap against a slow reference with the same draws, and its limits."""

import numpy as np
import pytest

from itr_bench.results.query_bootstrap import paired_interval, per_query_values, two_level_bootstrap


def slow_reference(differences, resamples, seed):
    """The definition, one resample, one seed and one query index at a time."""
    rng = np.random.default_rng(seed)
    n_seeds, out = len(differences), []
    for _ in range(resamples):
        per_seed = []
        for _ in range(n_seeds):
            s = rng.integers(n_seeds)
            per_seed.append(sum(np.mean([differences[s][d][rng.integers(len(differences[s][d]))]
                                         for _ in range(len(differences[s][d]))]) for d in differences[s]))
        out.append(np.mean(per_seed))
    return np.array(out)


def _differences(seed=0, n_seeds=3, sizes=(7, 4)):
    rng = np.random.default_rng(seed)
    return [{d: rng.normal(0.5 * s, 1.0, size=n) for d, n in zip(("t2i", "i2t"), sizes)} for s in range(n_seeds)]


@pytest.mark.slow
def test_vectorised_bootstrap_draws_what_the_slow_reference_draws():
    # few distinct values, as R@K differences have, and a continuous direction
    rng = np.random.default_rng(0)
    differences = [{"t2i": rng.choice([-100.0, 0.0, 100.0], p=[0.2, 0.5, 0.3], size=30) + 20 * s,
                    "i2t": rng.normal(s, 2.0, size=9)} for s in range(3)]
    fast = two_level_bootstrap(differences, resamples=20000, seed=3, chunk=700)
    slow = slow_reference(differences, 2000, seed=5)
    # Monte Carlo error of the slow side dominates: a mean within 4 standard errors,
    # the spread within 6%, the 95% interval's ends within 0.2 spreads (about 3 standard errors)
    assert abs(fast.mean() - slow.mean()) < 4 * slow.std() / np.sqrt(len(slow))
    assert fast.std() == pytest.approx(slow.std(), rel=0.06)
    for q in (2.5, 97.5):
        assert abs(np.percentile(fast, q) - np.percentile(slow, q)) < 0.2 * slow.std()


def test_fixed_resampling_seed_gives_the_same_interval():
    differences = _differences(1)
    assert np.array_equal(two_level_bootstrap(differences, 200), two_level_bootstrap(differences, 200))
    assert not np.array_equal(two_level_bootstrap(differences, 200, seed=1), two_level_bootstrap(differences, 200))


def test_without_query_noise_only_the_seeds_spread_it():
    constant = [{"t2i": np.full(50, float(s))} for s in range(4)]  # seed s: every query differs by s
    draws = two_level_bootstrap(constant, 2000)
    # each draw is the mean of 4 drawn seeds' values (0..3): a quarter-integer, spread over many
    assert np.allclose(draws * 4, np.round(draws * 4)) and len(set(np.round(draws * 4))) >= 8
    assert draws.mean() == pytest.approx(1.5, abs=0.05)
    single = two_level_bootstrap([{"t2i": np.full(10, 2.0)}], 100)
    assert np.all(single == 2.0)


def test_more_queries_narrow_the_interval():
    rng = np.random.default_rng(0)
    widths = []
    for n in (50, 5000):
        differences = [{"t2i": rng.normal(1.0, 5.0, size=n)} for _ in range(3)]
        draws = two_level_bootstrap(differences, 1000)
        widths.append(np.percentile(draws, 97.5) - np.percentile(draws, 2.5))
    assert widths[1] < widths[0] / 3


class _Results:
    def __init__(self, ranks):
        self.directions = {d: type("D", (), {"rank": np.asarray(r)})() for d, r in ranks.items()}


def test_rsum_and_recall_are_sums_of_per_query_means():
    results = _Results({"t2i": [0, 3, 20, 7], "i2t": [1, 0]})
    values = per_query_values("rsum", results)
    assert values["t2i"].tolist() == [300, 200, 0, 100] and values["i2t"].tolist() == [200, 300]
    assert per_query_values("t2i_r5", results)["t2i"].tolist() == [100, 100, 0, 0]
    assert per_query_values("t2i_medr", results) is None
    interval = paired_interval([results], [_Results({"t2i": [9, 9, 9, 9], "i2t": [9, 9]})], "rsum", resamples=500)
    assert interval.difference == pytest.approx((150 - 100) + (250 - 100))  # baseline: 100 per query (R@10)
    assert interval.low <= interval.difference <= interval.high
