"""Test-time augmentation helpers against direct computations."""

from __future__ import annotations

import torch
from itr_bench_dualpath.tta import flip_sum, shift_sum, shift_to

from itr_bench.api import EncoderContext


def test_shift_to_moves_each_sentence():
    ids = torch.tensor([[5, 6, 7, 0, 0], [1, 2, 3, 4, 9]])
    assert shift_to(ids, torch.tensor([2, 0])).tolist() == [[0, 0, 5, 6, 7], [1, 2, 3, 4, 9]]


def test_shift_sum_is_the_sum_over_every_start_where_the_sentence_fits():
    ids = torch.tensor([[5, 6, 7, 0, 0, 0], [1, 2, 3, 4, 5, 0], [8, 8, 8, 8, 8, 8]])
    weights = torch.randn(6, 3)

    def embed(batch):  # a position-sensitive toy "encoder"
        return (batch.float().unsqueeze(-1) * weights).sum(1)

    expected = []
    for row in ids.tolist():
        words = [w for w in row if w]
        starts = range(len(row) - len(words) + 1)
        placed = [[0] * s + words + [0] * (len(row) - len(words) - s) for s in starts]
        expected.append(embed(torch.tensor(placed)).sum(0))
    assert torch.allclose(shift_sum(embed, ids), torch.stack(expected), atol=1e-5)


def test_flip_sum():
    images = torch.arange(12.0).reshape(1, 1, 2, 6)
    assert torch.equal(flip_sum(lambda x: x[..., 0], images), images[..., 0] + images[..., -1])


def test_text_encoder_test_time_embedding_sums_shifts(registry, captions):
    encoder = registry.create(
        "text_encoder",
        "dualpath-textcnn",
        EncoderContext(train_captions=captions),
        word2vec=None,
        width=0.125,
        blocks=(1, 1, 1, 1),
        max_words=12,
    ).eval()
    ids = encoder.tokenizer(list(captions[:3]))
    with torch.no_grad():
        got = encoder.test_time_embedding(ids)
        for row in range(3):
            n = int((ids[row] != 0).sum())
            starts = torch.arange(12 - n + 1)
            shifted = shift_to(ids[row].expand(len(starts), -1), starts)
            assert torch.allclose(got[row], encoder(shifted).embedding.sum(0), atol=1e-4)
