"""The cost of mining the paper's hard negatives: a training step with and without it.

Run: python -m pytest tests/benchmarks/test_bench_negatives.py --benchmark-only -s

Both steps train the paper's ranking + instance objective on a paired batch of 32 (16 anchors,
16 negatives) with the dual-path model at the CPU smoke scale (ResNet-18 trunk and heads at 1/4
width, text CNN at 1/4 width with one block per stage, 32 px). Without mining the negatives are
random pairs (``random``); with mining (``hardest``) 256 candidate captions and the 16 anchor
images are also encoded in eval mode, in chunks, and scored in one matrix product. The ratio of
the two is measured in the same run; it must stay under :data:`MINING_BUDGET`.

What to expect: the paper's mining encodes 256 extra captions per step, 8 times the batch's 32,
forward only. At this scale the text path is most of a step, so mining costs about 3 extra steps
(x1.7 to x4.0 measured on a shared, busy 2-core CPU); with the paper's ResNet-50 at 224 px
the image path dominates and the ratio falls. Encoding candidates anchor by anchor (16 x 256
captions) would cost about 16 times more than this and fails the budget.
"""

from __future__ import annotations

import itertools
import time

import pytest
import torch

from itr_bench.config import RunConfig
from itr_bench.config import build as build_config
from itr_bench.engine.run import build
from itr_bench.feed.feeding import TrainFeed
from itr_bench.feed.negatives import EvalEmbedder, NegativeMining
from itr_bench.plugins import get_plugin_manager, load_registry

#: A mined step may cost at most this many random-negative steps.
MINING_BUDGET = 5.0
BATCH = 32


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    registry = load_registry(get_plugin_manager(load_entrypoints=False))
    config = build_config(RunConfig, {
        "dataset": "synthetic", "dataset_options": {"train": 600, "val": 20, "test": 20, "image_size": 32},
        "image_encoder": "dualpath-image", "image_options": {"backbone": "resnet18", "width": 0.25},
        "text_encoder": "dualpath-textcnn",
        "text_options": {"width": 0.25, "blocks": [1, 1, 1, 1], "word2vec": None},
        "image_size": 32, "batch_size": BATCH, "device": "cpu", "negatives": "hardest",
        "cache_dir": str(tmp_path_factory.mktemp("cache")), "loss_options": {"ranking": {"form": "paper"}},
        "stages": [{"epochs": 1, "losses": {"ranking": 2.0, "instance": 1.0}}],
    }, "bench")
    built = build(config, registry, "bench", progress=False)
    model = built.model.train()
    feed = TrainFeed(built.prepared.split("train"), built.tokens["train"], batch_size=BATCH, image_size=32,
                     device=torch.device("cpu"), seed=0, augment_ids=model.text.augment_ids)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    losses = dict(built.model.losses.items())

    def stepper(sampler_name):
        sampler = registry.create("negative_sampler", sampler_name)
        mining = NegativeMining(sampler_name, sampler, EvalEmbedder(model))
        batches = itertools.chain.from_iterable(feed.epoch(e, mining) for e in itertools.count())

        def step():
            batch = next(batches)
            total, _ = model(batch.images, batch.token_ids, batch.instance_ids, losses=losses,
                             weights={"ranking": 2.0, "instance": 1.0})
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()

        return step

    return stepper


def _seconds_per_step(step, steps=15) -> float:
    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def test_training_step_with_hard_negative_mining(benchmark, setup):
    mined = setup("hardest")
    benchmark.pedantic(mined, rounds=15, warmup_rounds=1)
    random_step = _seconds_per_step(setup("random"))
    mean = benchmark.stats.stats.mean
    ratio = mean / random_step
    benchmark.extra_info.update(random_negatives_step_s=random_step, mining_ratio=ratio)
    print(f"\ntraining step, batch {BATCH}: hardest-of-256 mining {mean * 1e3:.0f} ms, random negatives "
          f"{random_step * 1e3:.0f} ms; mining ratio x{ratio:.2f}")
    assert ratio < MINING_BUDGET
