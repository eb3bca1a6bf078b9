"""The deep text CNN against docs/paper-recipe.md rows 7-11: parameter counts, shapes, padding, init."""

from __future__ import annotations

import pytest
import torch
from itr_bench_dualpath.textcnn import Bottleneck, TextCNN, WordEmbedding
from torch import nn

from itr_bench.api import EncoderContext, EncoderOutput, TextSpec

FLICKR_VOCAB = 20074  # V of the official Flickr30k dictionary


def bn(c: int) -> int:
    return 2 * c  # learnable scale and shift


def block(cin: int, mid: int, out: int, projection: bool) -> int:
    """1x1 cin->mid, 1x2 mid->mid, 1x1 mid->out (no conv bias), BN after each, plus the shortcut."""
    params = cin * mid + bn(mid) + mid * mid * 2 + bn(mid) + mid * out + bn(out)
    return params + (cin * out + bn(out) if projection else 0)


# The official builders' block list (docs/paper-recipe.md row 8), written out by hand.
PAPER_TEXT_BLOCKS = (
    [block(300, 128, 256, True)]
    + [block(256, 64, 256, False)] * 2
    + [block(256, 128, 512, True)]
    + [block(512, 128, 512, False)] * 3
    + [block(512, 256, 1024, True)]
    + [block(1024, 256, 1024, False)] * 5
    + [block(1024, 2048, 2048, True)]
)


def expected_text_path_params(vocab: int) -> int:
    embedding = vocab * 300 + 300 + bn(300)  # fc2 (1x1 conv V->300 with bias) + BN
    head = 2048 * 2048 + bn(2048)  # fc5_2 (no bias) + BN
    return embedding + sum(PAPER_TEXT_BLOCKS) + head


def trainable(module: nn.Module) -> int:
    """Parameters, not counting the padding row of the lookup (fixed zero: an all-zero one-hot column)."""
    pad_rows = sum(m.table.weight.shape[1] for m in module.modules() if isinstance(m, WordEmbedding))
    return sum(p.numel() for p in module.parameters()) - pad_rows


def test_paper_block_list_has_fourteen_blocks():
    assert len(PAPER_TEXT_BLOCKS) == 14


def test_full_size_text_path_parameter_count(registry, captions):
    encoder = registry.create(
        "text_encoder", "dualpath-textcnn", EncoderContext(train_captions=captions), word2vec=None
    )
    vocab = len(encoder.tokenizer.vocabulary.words)
    assert trainable(encoder) == expected_text_path_params(vocab)


def test_flickr_sized_text_cnn_parameter_count():
    body = TextCNN(FLICKR_VOCAB + 1)  # + the padding id
    assert trainable(body) == expected_text_path_params(FLICKR_VOCAB) - (2048 * 2048 + bn(2048))
    # The same number, spelled out once for readers (20074-word Flickr dictionary).
    assert trainable(body) + 2048 * 2048 + bn(2048) == 32_387_516


def _trace(body: TextCNN, ids: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    shapes: list[tuple[str, tuple[int, ...]]] = []
    named = [("embedding", body.embedding), ("embedding_bn", body.embedding_bn)] + [
        (f"stage{s + 1}.block{b + 1}", blk)
        for s, stage in enumerate(body.stages)
        for b, blk in enumerate(stage)
    ]
    handles = [
        m.register_forward_hook(lambda m, i, o, n=n: shapes.append((n, tuple(o.shape)))) for n, m in named
    ]
    pooled = body(ids)
    for h in handles:
        h.remove()
    return shapes + [("pool", tuple(pooled.shape))]


@pytest.mark.parametrize("length, positions", [(32, 8), (56, 14)])
def test_full_size_shape_trace(length, positions):
    body = TextCNN(50).eval()
    ids = torch.randint(1, 50, (2, length))
    half = (length + 1) // 2  # stride 2 with one zero padded on the left: ceil(L / 2)
    expected = (
        [("embedding", (2, 300, 1, length)), ("embedding_bn", (2, 300, 1, length))]
        + [(f"stage1.block{b}", (2, 256, 1, length)) for b in (1, 2, 3)]
        + [(f"stage2.block{b}", (2, 512, 1, half)) for b in (1, 2, 3, 4)]
        + [(f"stage3.block{b}", (2, 1024, 1, positions)) for b in (1, 2, 3, 4, 5, 6)]
        + [("stage4.block1", (2, 2048, 1, positions)), ("pool", (2, 2048))]
    )
    with torch.no_grad():
        assert _trace(body, ids) == expected


def test_strided_block_convolutions():
    blk = Bottleneck(256, 128, 512, stride=2)
    assert blk.conv[0].kernel_size == (1, 2) and blk.conv[0].stride == (1, 2)
    assert blk.shortcut[0].kernel_size == (1, 1) and blk.shortcut[0].stride == (1, 2)
    assert blk(torch.randn(2, 256, 1, 32)).shape == (2, 512, 1, 16)


def test_one_by_two_convs_pad_on_the_left_only():
    """Position t of a stride-1 block sees positions <= t only (MatConvNet pad [0 0 1 0])."""
    blk = Bottleneck(8, 4, 8).eval()
    x = torch.randn(1, 8, 1, 12)
    y = x.clone()
    y[..., 6] += 1.0
    with torch.no_grad():
        diff = (blk(x) - blk(y)).abs().sum(dim=(0, 1, 2))
    assert torch.all(diff[:6] == 0) and diff[6] > 0


def test_lookup_equals_one_by_one_conv_over_one_hot():
    emb = WordEmbedding(11, 5)
    with torch.no_grad():
        emb.bias.normal_()
    ids = torch.tensor([[3, 1, 10, 0, 0]])
    one_hot = torch.nn.functional.one_hot(ids, 11).float()
    one_hot[..., 0] = 0  # the padding id is an all-zero column in the official one-hot input
    conv = nn.Conv2d(11, 5, 1)
    with torch.no_grad():
        conv.weight.copy_(emb.table.weight.T[:, :, None, None])
        conv.bias.copy_(emb.bias)
        expected = conv(one_hot.permute(0, 2, 1).unsqueeze(2))
        assert torch.allclose(emb(ids), expected, atol=1e-6)


def test_padding_gives_the_bias_and_gets_no_gradient():
    emb = WordEmbedding(7, 4)
    with torch.no_grad():
        emb.bias.fill_(0.5)
    out = emb(torch.tensor([[2, 0, 0]]))
    assert torch.equal(out[0, :, 0, 1:], torch.full((4, 2), 0.5))
    out.sum().backward()
    assert torch.equal(emb.table.weight.grad[0], torch.zeros(4))


def test_bias_free_convs_bn_eps_and_he_init(registry, captions):
    encoder = registry.create(
        "text_encoder", "dualpath-textcnn", EncoderContext(train_captions=captions), word2vec=None
    )
    convs = [m for m in encoder.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    norms = [m for m in encoder.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert convs and all(m.bias is None for m in convs)
    assert norms and all(m.eps == 1e-3 for m in norms)
    big = encoder.body.stages[3][0].conv[0].weight  # 2048 -> 2048, 1x2: fan-in 4096
    assert big.std().item() == pytest.approx((2 / 4096) ** 0.5, rel=0.02)
    assert big.mean().abs().item() < 1e-3


def test_no_relu_after_the_embedding_bn():
    body = TextCNN(20, width=0.125, blocks=(1, 1, 1, 1)).eval()
    captured = []
    body.stages[0][0].register_forward_pre_hook(lambda m, args: captured.append(args[0]))
    body(torch.randint(1, 20, (2, 32)))
    assert (captured[0] < 0).any()  # negative values reach the first block


def test_small_configuration_forward_backward(registry, captions):
    context = EncoderContext(train_captions=captions, text=TextSpec(max_words=32), hints={"dropout": 0.75})
    encoder = registry.create(
        "text_encoder", "dualpath-textcnn", context, word2vec=None, width=0.125, blocks=(1, 1, 2, 1)
    )
    assert encoder.body.out_dim == 256 and encoder.output_dim == 256
    assert encoder.head.classifier_input[1].p == 0.75
    ids = encoder.tokenizer(list(captions[:8]))
    assert ids.shape == (8, 32)
    out = encoder(ids)
    assert isinstance(out, EncoderOutput) and out.embedding.shape == out.features.shape == (8, 256)
    (out.features.sum() + out.embedding.pow(2).sum()).backward()
    grads = {name: p.grad for name, p in encoder.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert torch.count_nonzero(encoder.body.embedding.table.weight.grad[0]) == 0


def test_eval_embedding_is_pre_relu_and_features_are_its_relu(registry, captions):
    encoder = registry.create(
        "text_encoder",
        "dualpath-textcnn",
        EncoderContext(train_captions=captions, embed_dim=48),
        word2vec=None,
        width=0.125,
        blocks=(1, 1, 1, 1),
        dropout=0.5,
    ).eval()
    out = encoder(encoder.tokenizer(list(captions[:6])))
    assert out.embedding.shape == (6, 48)
    assert (out.embedding < 0).any()
    assert torch.equal(out.features, torch.relu(out.embedding))


def test_param_groups_split_the_embedding_from_the_body(registry, captions):
    info = registry.get("text_encoder", "dualpath-textcnn")
    assert info.metadata["lr_mult"] == {"text.embedding": 1e-3}
    encoder = info.create(
        EncoderContext(train_captions=captions), word2vec=None, width=0.125, blocks=(1, 1, 1, 1)
    )
    groups = encoder.param_groups()
    assert set(groups) == {"text.embedding", "text.body", "text.head"}
    assert {id(p) for p in groups["text.embedding"]} == {
        id(encoder.body.embedding.table.weight),
        id(encoder.body.embedding.bias),
    }
    flat = [id(p) for ps in groups.values() for p in ps]
    assert len(flat) == len(set(flat)) and set(flat) == {id(p) for p in encoder.parameters()}


def test_cuhk_sentence_length_from_the_dataset(registry, captions):
    context = EncoderContext(train_captions=captions, text=TextSpec(max_words=56))
    encoder = registry.create(
        "text_encoder", "dualpath-textcnn", context, word2vec=None, width=0.125, blocks=(1, 1, 1, 1)
    )
    ids = encoder.tokenizer(list(captions[:2]))
    assert ids.shape == (2, 56)
    assert encoder.body.feature_map(ids).shape[-1] == 14
    assert (
        registry.create(
            "text_encoder",
            "dualpath-textcnn",
            context,
            word2vec=None,
            width=0.125,
            blocks=(1, 1, 1, 1),
            max_words=20,
        ).tokenizer.max_length
        == 20
    )


@pytest.mark.parametrize(
    "options, message",
    [
        ({"width": 0}, "width"),
        ({"dropout": 1.0}, "dropout"),
        ({"blocks": (1, 2)}, "blocks"),
        ({"vocabulary": "all"}, "vocabulary"),
    ],
)
def test_bad_options_are_user_errors(registry, captions, options, message):
    from itr_bench.errors import ItrBenchError

    with pytest.raises(ItrBenchError, match=message):
        registry.create(
            "text_encoder",
            "dualpath-textcnn",
            EncoderContext(train_captions=captions),
            word2vec=None,
            **options,
        )


def test_needs_training_captions(registry):
    from itr_bench.errors import ItrBenchError

    with pytest.raises(ItrBenchError, match="training captions"):
        registry.create("text_encoder", "dualpath-textcnn", EncoderContext())
