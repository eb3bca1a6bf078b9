from collections import Counter

import pytest

from itr_bench.errors import ItrBenchError
from itr_bench.feed.samplers import EpochCaptionSampler, IdentityBatchSampler


def test_epoch_visits_each_image_once_with_one_random_caption():
    counts = [5, 5, 2, 1, 5, 3]
    sampler = EpochCaptionSampler(counts, seed=1)
    epoch0, epoch1 = list(sampler), list(sampler)
    assert len(sampler) == 6
    assert sorted(i for i, _ in epoch0) == list(range(6)) == sorted(i for i, _ in epoch1)
    assert all(0 <= c < counts[i] for i, c in epoch0 + epoch1)
    assert epoch0 != epoch1
    sampler.set_epoch(0)
    assert list(sampler) == epoch0  # reproducible from (seed, epoch)
    many = Counter(c for _ in range(400) for i, c in sampler if i == 0)
    assert set(many) == {0, 1, 2, 3, 4} and min(many.values()) > 50


def test_identity_batches_p_by_k():
    ids = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 4, 4]
    sampler = IdentityBatchSampler(ids, [2] * len(ids), identities=2, per_identity=3, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 2  # 5 identities // 2, last partial batch dropped
    for batch in batches:
        assert len(batch) == 6
        persons = Counter(ids[i] for i, _ in batch)
        assert len(persons) == 2 and set(persons.values()) == {3}
        assert all(c in (0, 1) for _, c in batch)
    seen = {ids[i] for batch in batches for i, _ in batch}
    assert len(seen) == 4
    unique = [
        len({i for i, _ in batch if ids[i] == 2})
        for batch in batches
        for _ in [0]
        if 2 in {ids[i] for i, _ in batch}
    ]
    assert all(n == 3 for n in unique)  # enough images: drawn without replacement


def test_identity_sampler_rejects_bad_sizes():
    with pytest.raises(ItrBenchError, match="need 1 <= P <= 2 identities"):
        IdentityBatchSampler([0, 1], [1, 1], identities=3, per_identity=2)
