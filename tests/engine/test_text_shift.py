"""The paper's sentence shift in training: each caption at a random start among the L slots."""

from __future__ import annotations

import torch
from itr_bench_dualpath.tta import random_shift
from tiny_models import tiny_config

from itr_bench.data.text import PAD_ID
from itr_bench.engine.run import build
from itr_bench.feed.feeding import TrainFeed

TEXT_OPTIONS = {"width": 0.125, "blocks": [1, 1, 1, 1], "word2vec": None}


def _epoch_ids(feed: TrainFeed, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
    batches = list(feed.epoch(epoch))
    return torch.cat([b.token_ids for b in batches]), torch.cat([b.instance_ids for b in batches])


def _starts(ids: torch.Tensor) -> torch.Tensor:
    return (ids != PAD_ID).long().argmax(dim=1)


def _words(row: torch.Tensor) -> tuple[int, ...]:
    return tuple(int(w) for w in row if w != PAD_ID)


def _feed(tmp_path, registry, augment: bool) -> tuple[TrainFeed, object]:
    config = tiny_config(tmp_path / "cache", text_encoder="dualpath-textcnn", text_options=TEXT_OPTIONS, embed_dim=16)
    built = build(config, registry, "t", progress=False)
    augment_ids = built.model.text.augment_ids if augment else None
    feed = TrainFeed(built.prepared.split("train"), built.tokens["train"], batch_size=16, image_size=16,
                     device=torch.device("cpu"), seed=0, augment_ids=augment_ids)
    return feed, built


def test_training_text_is_shifted_differently_in_two_epochs(tmp_path, tiny_registry):
    feed, built = _feed(tmp_path, tiny_registry, augment=True)
    assert built.model.text.text_augmentation == "shift"
    length = built.tokens["train"].ids.shape[1]
    captions = {_words(row) for row in built.tokens["train"].ids}
    first, ids_first = _epoch_ids(feed, 0)
    second, ids_second = _epoch_ids(feed, 1)
    for ids in (first, second):
        # every row is one of the training captions, whole and in order, only moved
        assert all(_words(row) in captions for row in ids)
        starts, lengths = _starts(ids), (ids != PAD_ID).sum(1)
        assert bool((starts + lengths <= length).all())
        assert len(set(starts.tolist())) > 3, "sentences should start at many different slots"
    # the same image in two epochs: its caption is placed at a different start (most of the time)
    by_image = {int(i): s for i, s in zip(ids_first, _starts(first))}
    moved = sum(int(by_image[int(i)] != s) for i, s in zip(ids_second, _starts(second)))
    assert moved > len(second) // 2


def test_without_text_augmentation_every_sentence_starts_at_slot_zero(tmp_path, tiny_registry):
    feed, _ = _feed(tmp_path, tiny_registry, augment=False)
    first, _ = _epoch_ids(feed, 0)
    assert bool((_starts(first) == 0).all())


def test_random_shift_is_uniform_over_the_starts_where_the_sentence_fits():
    ids = torch.tensor([[4, 5, 6, 0, 0, 0]]).expand(6000, -1)
    shifted = random_shift(ids, torch.Generator().manual_seed(0))
    counts = torch.bincount(_starts(shifted), minlength=6)
    assert counts[4:].sum() == 0 and bool((counts[:4] > 1350).all())  # starts 0..3, ~1500 each
    full = torch.arange(1, 7).unsqueeze(0)
    assert torch.equal(random_shift(full, torch.Generator().manual_seed(0)), full)  # a full sentence cannot move
