"""Encoder throughput (pytest-benchmark; skipped by default, run with ``--benchmark-only``).

python -m pytest tests/benchmarks/test_bench_encoders.py --benchmark-only
"""

from __future__ import annotations

import pytest
import torch

from itr_bench.api import EncoderContext

CAPTIONS = (
    "A dog runs on the grass .",
    "Two people sit on a bench near the water",
    "A man rides a bike",
) * 20
BATCH = 32

CONFIGS = {
    "paper": {"image": {}, "text": {}},
    "quickstart": {
        "image": {"backbone": "resnet18", "width": 0.25},
        "text": {"width": 0.25, "blocks": (1, 1, 1, 1)},
    },
}


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_bench_text_cnn_train_step(benchmark, registry, config):
    encoder = registry.create(
        "text_encoder",
        "dualpath-textcnn",
        EncoderContext(train_captions=CAPTIONS),
        word2vec=None,
        **CONFIGS[config]["text"],
    )
    ids = encoder.tokenizer(list(CAPTIONS[:BATCH]))

    def step():
        encoder.zero_grad(set_to_none=True)
        encoder(ids).features.sum().backward()

    benchmark(step)


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_bench_image_path_train_step(benchmark, registry, config):
    encoder = registry.create("image_encoder", "dualpath-image", EncoderContext(), **CONFIGS[config]["image"])
    encoder = encoder.to(memory_format=torch.channels_last)
    images = torch.randn(BATCH, 3, 224, 224).to(memory_format=torch.channels_last)

    def step():
        encoder.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = encoder(images)
        out.features.float().sum().backward()

    benchmark.pedantic(step, rounds=3, warmup_rounds=1)


@pytest.mark.parametrize("trimmed", [False, True], ids=["padded-to-64", "trimmed"])
def test_bench_minilm_forward_padding(benchmark, registry, trimmed):
    """A transformer text path on short captions: trailing padding trimmed, or kept to max_length.

    On 512 real Flickr8k captions (batch 64, 2 threads) trimming took the forward from 0.527 s to
    0.215 s per batch; the captions here are shorter, so the ratio is larger.
    """
    from itr_bench_backbones.hf_text import POOLINGS

    encoder = registry.create("text_encoder", "minilm", EncoderContext()).eval()
    ids = encoder.tokenizer(list(CAPTIONS[:BATCH]))

    def padded():
        mask = ids != encoder.tokenizer.pad_id
        hidden = encoder.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        return encoder.projection(POOLINGS[encoder.pooling](hidden, mask))

    run = (lambda: encoder(ids)) if trimmed else padded
    with torch.no_grad():
        benchmark(run)
