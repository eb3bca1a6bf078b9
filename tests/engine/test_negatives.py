"""Paired batches for the paper's ranking loss: slot B/2+k holds the negative the sampler chose
for anchor k (the hardest of 256 captions outside the batch, or a random pair of another
instance), both halves keep their own instance ids, and a run without a sampler is refused."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from itr_bench_losses import HardestNegatives, RandomNegatives
from itr_bench_losses.negatives import other_instance_images
from tiny_models import tiny_config

from itr_bench.api import as_encoder_output
from itr_bench.engine.run import build, train_run
from itr_bench.errors import ConfigError
from itr_bench.feed.feeding import TrainFeed
from itr_bench.feed.negatives import EvalEmbedder, NegativeMining
from itr_bench.results.leaderboard import _objective

PAPER = {"ranking": {"form": "paper"}}


class RecordingPool:
    """A negative pool that remembers the candidate pairs it made."""

    def __init__(self, pool):
        self.pool, self.last_candidates = pool, None

    def __getattr__(self, name):
        return getattr(self.pool, name)

    def pairs(self, images):
        self.last_candidates = self.pool.pairs(images)
        return self.last_candidates


class Spy:
    """Wraps a sampler and keeps what it was given and what it chose (a hook into the sampler)."""

    def __init__(self, sampler):
        self.sampler, self.calls = sampler, []

    def choose(self, anchors, pool):
        pool = RecordingPool(pool)
        chosen = self.sampler.choose(anchors, pool)
        self.calls.append((anchors, chosen, pool))
        return chosen


def _mining_feed(tmp_path, registry, sampler, batch_size=16):
    config = tiny_config(tmp_path / "cache", loss_options=PAPER, negatives="random", batch_size=batch_size)
    built = build(config, registry, "t", progress=False)
    feed = TrainFeed(built.prepared.split("train"), built.tokens["train"], batch_size=batch_size, image_size=16,
                     device=torch.device("cpu"), seed=0)
    return built, feed, NegativeMining("spy", sampler, EvalEmbedder(built.model))


def test_paper_form_without_a_negative_sampler_is_refused(tmp_path, tiny_registry):
    with pytest.raises(ConfigError, match=r"negatives: loss 'ranking' .*slot B/2\+k.*hardest, random"):
        train_run(tiny_config(tmp_path / "cache", loss_options=PAPER), tiny_registry, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "last").exists()


def test_unknown_negative_sampler_is_a_config_error(tmp_path, tiny_registry):
    with pytest.raises(ConfigError, match=r"negatives: unknown negative_sampler 'hardst'.*hardest"):
        train_run(tiny_config(tmp_path / "cache", loss_options=PAPER, negatives="hardst"), tiny_registry,
                  tmp_path / "run", progress=False)


def test_hardest_negative_is_in_slot_half_plus_k(tmp_path, tiny_registry):
    spy = Spy(HardestNegatives(candidates=40))
    built, feed, mining = _mining_feed(tmp_path, tiny_registry, spy)
    model = built.model.train()
    batches = list(feed.epoch(0, mining))
    # an epoch is N/B batches whatever the layout; the anchors are each batch's first half
    assert len(batches) == feed.batches() == 64 // 16
    anchors_seen = torch.cat([anchors.images for anchors, _, _ in spy.calls])
    plain = [batch.instance_ids for batch in feed.epoch(0)]
    assert anchors_seen.tolist() == torch.cat([ids[:8] for ids in plain]).tolist()  # instance = image here
    assert model.training and model.image.training  # scoring left the training mode as it was
    for batch, (anchors, chosen, pool) in zip(batches, spy.calls):
        half = len(anchors)
        assert torch.equal(batch.token_ids[:half], anchors.token_ids)
        assert torch.equal(batch.token_ids[half:], chosen.token_ids)  # the scored ids, re-encoded
        ids = pool.instance_ids
        assert torch.equal(batch.instance_ids, torch.cat([ids[anchors.images], ids[chosen.images]]))
        assert not set(chosen.images.tolist()) & set(anchors.images.tolist())  # outside the batch
        # brute force, one anchor at a time: nothing among the 40 scored candidates beats the choice
        candidates = pool.last_candidates
        with torch.no_grad():
            model.eval()
            image = F.normalize(as_encoder_output(model.image(pool.anchor_images)).embedding, dim=-1)
            text = F.normalize(as_encoder_output(model.text(candidates.token_ids)).embedding, dim=-1)
            mined = F.normalize(as_encoder_output(model.text(chosen.token_ids)).embedding, dim=-1)
            model.train()
        for k in range(half):
            allowed = [c for c in range(len(candidates)) if ids[candidates.images[c]] != ids[anchors.images[k]]]
            best = max(float(image[k] @ text[c]) for c in allowed)
            assert float(image[k] @ mined[k]) == pytest.approx(best, abs=1e-5)


def test_random_negatives_are_pairs_of_another_instance():
    instance_ids = torch.arange(40) // 5  # 8 identities of 5 images (CUHK-PEDES-like)
    anchors = torch.arange(0, 40, 3)
    for seed in range(5):
        picks = other_instance_images(instance_ids, anchors, torch.Generator().manual_seed(seed))
        assert bool((instance_ids[picks] != instance_ids[anchors]).all())
    two = torch.tensor([0, 0, 0, 0, 0, 0, 0, 1])  # almost every draw clashes: the exact fallback
    picks = other_instance_images(two, torch.zeros(6, dtype=torch.long), torch.Generator().manual_seed(0))
    assert picks.tolist() == [7] * 6


def test_negatives_are_drawn_from_the_seeded_generator(tmp_path, tiny_registry):
    def chosen_images(seed):
        spy = Spy(RandomNegatives())
        _, feed, mining = _mining_feed(tmp_path, tiny_registry, spy)
        feed.generator.manual_seed(0)
        feed.sampler.seed = seed
        list(feed.epoch(0, mining))
        return torch.cat([c.images for _, c, _ in spy.calls])

    assert torch.equal(chosen_images(0), chosen_images(0))
    assert not torch.equal(chosen_images(0), chosen_images(1))


def test_paired_and_unpaired_runs_of_a_seed_see_the_same_crops(tmp_path, tiny_registry):
    """Mining draws from its own stream: the anchors of every paired batch are the first half of
    the unpaired batch, pixel for pixel, and both layouts take the same steps per epoch."""
    spy = Spy(HardestNegatives(candidates=40))
    _, feed, mining = _mining_feed(tmp_path, tiny_registry, spy)
    for epoch in (0, 1):
        paired, plain = list(feed.epoch(epoch, mining)), list(feed.epoch(epoch))
        assert len(paired) == len(plain) == feed.batches()
        for a, b in zip(paired, plain):
            assert torch.equal(a.images[:8], b.images[:8]) and torch.equal(a.token_ids[:8], b.token_ids[:8])
            assert not torch.equal(a.images[8:], b.images[8:])  # the second half is the mined one
    assert torch.equal(feed.first_batch().images[:8], next(iter(feed.epoch(0, mining))).images[:8])


def test_record_and_leaderboard_name_the_negatives(tmp_path, tiny_registry):
    record = train_run(tiny_config(tmp_path / "cache", loss_options=PAPER, negatives="hardest",
                                   negative_options={"candidates": 32}), tiny_registry, tmp_path / "run",
                       progress=False)
    assert record["negatives"] == {"sampler": "hardest", "options": {"candidates": 32}, "from": "run"}
    assert "negatives" not in record["objective"][0] and record["objective"][1]["negatives"] == "hardest"
    assert [h.get("negatives") for h in record["history"]] == [None, None, "hardest", "hardest"]
    assert _objective(record["objective"]).endswith("-> ranking(1)@normalized+instance(1)@features negatives:hardest 2ep")


def test_dataset_hint_names_the_sampler(tmp_path, tiny_registry, monkeypatch):
    from itr_bench_datasets.synthetic import Synthetic

    monkeypatch.setattr(Synthetic, "hints", {"dropout": 0.5, "negatives": "random"})
    config = tiny_config(tmp_path / "cache", loss_options=PAPER)
    built = build(config, tiny_registry, "t", progress=False)
    assert built.negatives.describe() == {"sampler": "random", "options": {}, "from": "dataset synthetic"}


def test_runs_without_a_paired_loss_use_no_sampler(tmp_path, tiny_registry):
    built = build(tiny_config(tmp_path / "cache", negatives="hardest"), tiny_registry, "t", progress=False)
    assert built.negatives is None  # vsepp-sum reads in-batch negatives
