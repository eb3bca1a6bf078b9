"""Generic backbones: any timm image model, any transformers text model, MiniLM with no network."""

from __future__ import annotations

import logging

import pytest
import torch
from itr_bench_backbones import timm_weights
from itr_bench_backbones.hf_text import POOLINGS, trim_trailing_padding
from itr_bench_backbones.minilm import minilm_model_dir
from torch import nn

from itr_bench.api import EncoderContext, Tokenizer
from itr_bench.errors import ItrBenchError

pytestmark = pytest.mark.network_free


@pytest.fixture(scope="module")
def minilm_reference():
    """all-MiniLM-L6-v2 run by sentence-transformers itself, offline (its own pooling + normalisation)."""
    sentence_transformers = pytest.importorskip("sentence_transformers")
    return sentence_transformers.SentenceTransformer(
        str(minilm_model_dir()), device="cpu", local_files_only=True
    )


CAPTIONS = ["A dog runs on the grass.", "Two people sit on a bench near the water"]


# sentence-transformers' own output for CAPTIONS (encode(..., normalize_embeddings=True)), first 4
# dimensions and the cosine of the pair; recomputed live by the slow test below.
REFERENCE_HEAD = [
    [0.017271424, -0.008763148, -0.002648520, 0.019864969],
    [-0.046445124, 0.003745447, -0.002238122, -0.015386931],
]
REFERENCE_COSINE = -0.063814417


def test_minilm_loads_offline_with_the_published_embeddings(registry, no_network):
    encoder = registry.create("text_encoder", "minilm", EncoderContext()).eval()
    assert isinstance(encoder.tokenizer, Tokenizer) and encoder.pooling == "mean"
    ids = encoder.tokenizer(CAPTIONS)
    assert ids.shape == (2, 64) and ids.dtype == torch.long
    with torch.no_grad():
        ours = nn.functional.normalize(encoder(ids), dim=-1)
    assert encoder.output_dim == 384
    assert torch.allclose(ours[:, :4], torch.tensor(REFERENCE_HEAD), atol=1e-4)
    assert float(ours[0] @ ours[1]) == pytest.approx(REFERENCE_COSINE, abs=1e-4)


@pytest.mark.slow
def test_minilm_matches_sentence_transformers(registry, no_network, minilm_reference):
    encoder = registry.create("text_encoder", "minilm", EncoderContext()).eval()
    assert isinstance(encoder.tokenizer, Tokenizer) and encoder.pooling == "mean"
    ids = encoder.tokenizer(CAPTIONS)
    assert ids.shape == (2, 64) and ids.dtype == torch.long
    with torch.no_grad():
        ours = nn.functional.normalize(encoder(ids), dim=-1)
    reference = torch.as_tensor(minilm_reference.encode(CAPTIONS, normalize_embeddings=True))
    assert encoder.output_dim == 384
    assert torch.allclose(ours, reference, atol=1e-4)


def test_padding_does_not_change_mean_or_cls_pooling(registry, no_network):
    for pooling in ("mean", "cls"):
        short = registry.create(
            "text_encoder", "minilm", EncoderContext(), max_length=16, pooling=pooling
        ).eval()
        long = registry.create(
            "text_encoder", "minilm", EncoderContext(), max_length=48, pooling=pooling
        ).eval()
        with torch.no_grad():
            assert torch.allclose(short(short.tokenizer(CAPTIONS)), long(long.tokenizer(CAPTIONS)), atol=1e-5)


def test_trailing_padding_is_trimmed_before_the_transformer(registry, no_network, monkeypatch):
    encoder = registry.create("text_encoder", "minilm", EncoderContext()).eval()
    ids = encoder.tokenizer(CAPTIONS)
    longest = int((ids != encoder.tokenizer.pad_id).sum(1).max())
    seen = []
    forward = encoder.model.forward
    monkeypatch.setattr(
        encoder.model, "forward", lambda **kw: seen.append(kw["input_ids"].shape) or forward(**kw)
    )
    with torch.no_grad():
        trimmed = encoder(ids)
    assert seen == [(2, longest)] and longest < ids.shape[1]
    with torch.no_grad():
        mask = ids != encoder.tokenizer.pad_id
        full = forward(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        untrimmed = encoder.projection(POOLINGS[encoder.pooling](full, mask))
    assert torch.allclose(trimmed, untrimmed, atol=1e-5)


def test_trim_keeps_left_padding_and_all_padding_batches():
    left = torch.tensor([[0, 0, 5, 6], [0, 7, 8, 9]])
    assert torch.equal(trim_trailing_padding(left, 0), left)
    right = torch.tensor([[5, 6, 0, 0, 0], [7, 0, 0, 0, 0]])
    assert torch.equal(trim_trailing_padding(right, 0), right[:, :2])
    assert trim_trailing_padding(torch.zeros(2, 4, dtype=torch.long), 0).shape == (2, 1)


def test_hf_text_projection_groups_and_backward(registry, no_network):
    encoder = registry.create(
        "text_encoder", "hf-text", EncoderContext(embed_dim=128), model=str(minilm_model_dir()), pooling="cls"
    )
    assert encoder.output_dim == 128 and isinstance(encoder.projection, nn.Linear)
    out = encoder(encoder.tokenizer(CAPTIONS))
    assert out.shape == (2, 128)
    out.sum().backward()
    groups = encoder.param_groups()
    assert set(groups) == {"text.embedding", "text.body", "text.head"}
    assert groups["text.embedding"] == [encoder.model.get_input_embeddings().weight]
    flat = [id(p) for ps in groups.values() for p in ps]
    assert sorted(flat) == sorted(id(p) for p in encoder.parameters())


def test_hf_text_random_init_from_config(registry, no_network):
    pretrained = registry.create("text_encoder", "minilm", EncoderContext())
    random = registry.create("text_encoder", "minilm", EncoderContext(), pretrained=False)
    a, b = (m.model.get_input_embeddings().weight for m in (pretrained, random))
    assert a.shape == b.shape and not torch.allclose(a, b)


def test_hf_text_never_downloads(registry, no_network):
    with pytest.raises(
        ItrBenchError, match="cannot load transformers model 'no-such-org/no-such-model' from local"
    ):
        registry.create("text_encoder", "hf-text", EncoderContext(), model="no-such-org/no-such-model")
    with pytest.raises(ItrBenchError, match="pooling: .*expected one of .cls., .mean. or nothing, got .max."):
        registry.create(
            "text_encoder", "hf-text", EncoderContext(), model=str(minilm_model_dir()), pooling="max"
        )


def test_timm_any_model_with_projection_and_random_fallback_message(registry, monkeypatch, caplog):
    monkeypatch.setattr(timm_weights, "find_cached_weights", lambda name, cache_dir=None: None)
    with caplog.at_level(logging.WARNING, logger=timm_weights.__name__):
        encoder = registry.create("image_encoder", "timm", EncoderContext(embed_dim=64), model="resnet10t")
    assert encoder.weights == "random"
    [record] = caplog.records
    assert "no cached pretrained weights for timm 'resnet10t'" in record.getMessage()
    assert "random init" in record.getMessage() and "\n" not in record.getMessage()
    images = torch.randn(2, 3, 32, 32).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = encoder(images)
    assert out.shape == (2, 64) and out.dtype == torch.bfloat16
    out.float().sum().backward()
    groups = encoder.param_groups()
    assert [p.shape for p in groups["image.head"]] == [(64, 512), (64,)]
    assert len(groups["image.trunk"]) == len(list(encoder.trunk.parameters()))


def test_timm_without_projection_when_widths_agree(registry, monkeypatch):
    monkeypatch.setattr(timm_weights, "find_cached_weights", lambda name, cache_dir=None: None)
    encoder = registry.create(
        "image_encoder", "timm", EncoderContext(embed_dim=512), model="resnet10t", pretrained=False
    )
    assert isinstance(encoder.projection, nn.Identity) and encoder.output_dim == 512


def test_timm_checkpoint_option(registry, tmp_path):
    import timm

    source = timm.create_model("resnet10t", num_classes=0)
    path = tmp_path / "weights.pth"
    torch.save(source.state_dict(), path)
    encoder = registry.create(
        "image_encoder", "timm", EncoderContext(), model="resnet10t", checkpoint=str(path)
    )
    assert encoder.weights == str(path)
    assert all(
        torch.equal(a, b) for a, b in zip(encoder.trunk.state_dict().values(), source.state_dict().values())
    )
    with pytest.raises(ItrBenchError, match="missing.pth' does not exist"):
        registry.create(
            "image_encoder",
            "timm",
            EncoderContext(),
            model="resnet10t",
            checkpoint=str(tmp_path / "missing.pth"),
        )
