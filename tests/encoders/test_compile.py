"""torch.compile on a tiny dual-path configuration on CPU.

Both are slow on a 2-core CPU. Whole-graph capture (``fullgraph=True``: no graph breaks) is
checked with the ``eager`` backend for both paths, forward and backward; Inductor, which also
compiles C++ kernels with the system compiler (~20 s here, more with a cold kernel cache),
runs on the text CNN, the path with the custom layers (left padding, lookup, max pooling).
"""

from __future__ import annotations

import shutil

import pytest
import torch

from itr_bench.api import EncoderContext

pytestmark = pytest.mark.slow


@pytest.fixture
def tiny_dual_path(registry, captions):
    context = EncoderContext(train_captions=captions, embed_dim=32)
    image = registry.create("image_encoder", "dualpath-image", context, backbone="resnet10t", width=1 / 16)
    text = registry.create(
        "text_encoder", "dualpath-textcnn", context, word2vec=None, width=1 / 16, blocks=(1, 1, 1, 1)
    )
    return image, text, torch.randn(4, 3, 32, 32), text.tokenizer(list(captions[:4]))


def test_whole_graph_capture_forward_backward(tiny_dual_path):
    image, text, images, ids = tiny_dual_path
    for encoder, inputs in ((image, images), (text, ids)):
        compiled = torch.compile(encoder, backend="eager", fullgraph=True)  # fullgraph: no graph breaks
        out = compiled(inputs)
        (out.embedding.sum() + out.features.sum()).backward()
        assert all(p.grad is not None for p in encoder.parameters())
        with torch.no_grad():  # train mode: batch statistics, and the embedding is before dropout
            assert torch.allclose(compiled(inputs).embedding, encoder(inputs).embedding, atol=1e-5)


@pytest.mark.skipif(
    shutil.which("c++") is None and shutil.which("g++") is None,
    reason="Inductor on CPU needs a C++ compiler, and none is installed",
)
def test_inductor_text_cnn(tiny_dual_path):
    _, text, _, ids = tiny_dual_path
    text.eval()
    with torch.no_grad():
        assert torch.allclose(
            torch.compile(text, fullgraph=True)(ids).embedding, text(ids).embedding, atol=1e-4
        )
