"""What the encoder plugins register, and that they build through the registry."""

from __future__ import annotations

from itr_bench.api import ImageEncoder, TextEncoder


def test_encoders_are_registered_by_their_plugins(registry):
    owners = {
        info.name: info.plugin for info in registry.list("image_encoder") + registry.list("text_encoder")
    }
    assert (
        owners["dualpath-resnet50"]
        == owners["dualpath-image"]
        == owners["dualpath-textcnn"]
        == "itr_bench_dualpath"
    )
    assert owners["timm"] == owners["hf-text"] == owners["minilm"] == "itr_bench_backbones"
    assert all(info.description for info in registry.list("image_encoder") + registry.list("text_encoder"))


def test_factories_return_the_contract_types(registry, captions):
    from itr_bench.api import EncoderContext

    context = EncoderContext(train_captions=captions)
    image = registry.create("image_encoder", "dualpath-image", context, backbone="resnet10t", width=1 / 16)
    text = registry.create(
        "text_encoder", "dualpath-textcnn", context, word2vec=None, width=1 / 16, blocks=(1, 1, 1, 1)
    )
    assert isinstance(image, ImageEncoder) and isinstance(text, TextEncoder)
    assert image.group_prefix == "image" and text.group_prefix == "text"
