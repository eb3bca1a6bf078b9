"""A tiny encoder plugin and run configs that train in seconds on the synthetic data (test support)."""

from __future__ import annotations

import torch
from torch import nn

import itr_bench
from itr_bench.api import EncoderContext, ImageEncoder, TextEncoder
from itr_bench.config import RunConfig, build
from itr_bench.data.text import Vocabulary, WordTokenizer


class TinyImage(ImageEncoder):
    """conv -> pool -> linear; no batch norm, so data-parallel runs match single-process ones exactly."""

    def __init__(self, context: EncoderContext, dim: int = 16) -> None:
        super().__init__()
        self.output_dim = dim
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8, dim)

    def forward(self, images):
        return self.fc(torch.relu(self.conv(images)).mean(dim=(2, 3)))

    def param_groups(self):
        return {"image.trunk": list(self.conv.parameters()), "image.head": list(self.fc.parameters())}


class CollapsedImage(ImageEncoder):
    """Every image gets the same embedding: the degenerate case records must flag."""

    def __init__(self, context: EncoderContext, dim: int = 16) -> None:
        super().__init__()
        self.output_dim = dim
        self.point = nn.Parameter(torch.ones(dim))

    def forward(self, images):
        return self.point.expand(len(images), -1)


class TinyText(TextEncoder):
    """Mean of word embeddings -> linear, over a training-split vocabulary."""

    def __init__(self, context: EncoderContext, dim: int = 16) -> None:
        super().__init__()
        self.output_dim = dim
        self.tokenizer = WordTokenizer(Vocabulary.build(context.train_captions, context.text), context.text)
        self.embedding = nn.EmbeddingBag(self.tokenizer.vocab_size, 16, mode="mean", padding_idx=0)
        self.fc = nn.Linear(16, dim)

    def forward(self, ids):
        return self.fc(self.embedding(ids))


class TinyPlugin:
    @itr_bench.hookimpl
    def register_image_encoders(self, register):
        register("tiny-image", TinyImage)
        register("collapsed", CollapsedImage)

    @itr_bench.hookimpl
    def register_text_encoders(self, register):
        register("tiny-text", TinyText)


def tiny_config(cache_dir, **overrides) -> RunConfig:
    data = {
        "dataset": "synthetic",
        "dataset_options": {"train": 64, "val": 24, "test": 24, "image_size": 16},
        "image_encoder": "tiny-image",
        "text_encoder": "tiny-text",
        "image_size": 16,
        "batch_size": 16,
        "device": "cpu",
        "cache_dir": str(cache_dir),
        "stages": [
            {"epochs": 2, "losses": {"instance": 1.0}, "lr_mult": {"image.trunk": 0.0}, "lr": 0.1},
            {"epochs": 2, "losses": {"ranking": 1.0, "instance": 1.0}, "lr": 0.05, "lr_steps": [1]},
        ],
        "loss_options": {"ranking": {"form": "vsepp-sum"}},
    }
    data.update(overrides)
    return build(RunConfig, data, "tiny.toml")
