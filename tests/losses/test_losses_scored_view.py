"""Every built-in loss trains the tensor that is scored, through the real encoders' two views.

Retrieval ranks the L2-normalised pre-ReLU embedding. A loss fed the ReLU + dropout
``features`` instead gives the embedding's negative coordinates no gradient at all; only the
paper's instance loss does that, because its reference does (its classifier sees ReLU + dropout).
"""

from __future__ import annotations

import pytest
import torch

from itr_bench.api import EncoderContext, Inputs, LossContext
from itr_bench.engine.objective import objective

CAPTIONS = ("a dog runs on the grass", "two people sit on a bench", "a man rides a bike down a hill",
            "a girl climbs the stairs", "two dogs play with a ball", "a man on a dirt road") * 2
BATCH, DIM = 8, 16
#: The built-in losses whose reference feeds them the classifier input, not the embedding.
REFERENCE_USES_FEATURES = {"instance"}


@pytest.fixture(scope="module")
def encoders(all_losses):
    """The dual-path encoders (the ones that return two views), tiny, with a 0.75 dropout."""
    torch.manual_seed(0)
    context = EncoderContext(embed_dim=DIM, train_captions=CAPTIONS, image_size=32, hints={"dropout": 0.75})
    image = all_losses.create("image_encoder", "dualpath-image", context, backbone="resnet18", width=0.125)
    text = all_losses.create("text_encoder", "dualpath-textcnn", context, width=0.125, blocks=[1, 1, 1, 1],
                             word2vec=None)
    return image.train(), text.train()


def builtin_losses(registry):
    return [info.name for info in registry.list("loss") if info.plugin == "itr_bench_losses"]


def scored_gradients(loss, encoders, seed=0):
    """Gradient of the stage objective with respect to each scored embedding, and the embeddings."""
    image_encoder, text_encoder = encoders
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(BATCH, 3, 32, 32, generator=generator)
    ids = text_encoder.tokenizer(list(CAPTIONS[:BATCH]))
    image, text = image_encoder(images), text_encoder(ids)
    assert image.embedding is not image.features, "the dual-path encoders must return two views"
    for output in (image, text):
        output.embedding.retain_grad()
    total, _ = objective({"loss": loss}, {"loss": 1.0}, image, text, torch.arange(BATCH))
    total.backward()
    return [(output.embedding.detach(), output.embedding.grad) for output in (image, text)]


def test_every_builtin_loss_is_checked(all_losses):
    assert {"cmpm", "cmpc", "instance", "infonce", "ranking"} <= set(builtin_losses(all_losses))


@pytest.mark.parametrize("name", ["instance", "ranking", "infonce", "siglip", "cmpm", "cmpc", "triplet"])
def test_gradient_reaches_the_negative_coordinates_of_the_scored_embedding(all_losses, encoders, name):
    torch.manual_seed(0)
    loss = all_losses.create("loss", name, LossContext(embed_dim=DIM, num_instances=BATCH))
    for side, (embedding, grad) in zip(("image", "text"), scored_gradients(loss, encoders)):
        negative = embedding < 0
        assert negative.any() and (~negative).any()
        reaches = grad[negative].abs().sum() > 0
        if name in REFERENCE_USES_FEATURES:
            # The paper's classifier sees ReLU + dropout: no gradient below zero, by reference.
            assert Inputs(loss.inputs) is Inputs.FEATURES and not reaches
        else:
            assert reaches, f"{name}: no gradient reaches the {side} embedding's negative coordinates"
            assert Inputs(loss.inputs) is not Inputs.FEATURES


def test_only_losses_whose_reference_uses_them_consume_the_features(all_losses):
    context = LossContext(embed_dim=DIM, num_instances=BATCH)
    consume_features = {name for name in builtin_losses(all_losses)
                        if Inputs(all_losses.create("loss", name, context).inputs) is Inputs.FEATURES}
    assert consume_features == REFERENCE_USES_FEATURES


def test_the_encoders_state_their_features_view(encoders):
    assert [e.features_view() for e in encoders] == ["ReLU + dropout 0.75"] * 2
