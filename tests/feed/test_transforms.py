import pytest
import torch

from itr_bench.errors import ItrBenchError
from itr_bench.feed.transforms import VIEWS, build_transform


def image(h=60, w=90):
    return torch.arange(3 * h * w, dtype=torch.int64).remainder(251).to(torch.uint8).view(3, h, w)


def test_table_and_unknown_name():
    assert set(VIEWS) == {"paper-train", "paper-train-squash", "test", "test-squash", "test-full"}
    with pytest.raises(
        ItrBenchError, match="unknown image transform 'paper-trian': did you mean 'paper-train'"
    ):
        build_transform("paper-trian", 32)


def test_test_transforms_are_deterministic_and_normalised():
    test = build_transform("test", 32)
    a, b = test(image()), test(image())
    assert a.shape == (3, 32, 32) and a.dtype == torch.float32 and torch.equal(a, b)
    full = build_transform("test-full", 32)(image())
    assert full.shape == (3, 32, 48)  # shorter side to 32, aspect kept
    assert build_transform("test-squash", 32)(image()).shape == (3, 32, 32)
    flat = build_transform("test", 8, mean=(0.5,) * 3, std=(0.5,) * 3)(
        torch.full((3, 20, 20), 255, dtype=torch.uint8)
    )
    assert torch.allclose(flat, torch.ones_like(flat))


def test_paper_train_crops_and_flips_randomly():
    train = build_transform("paper-train", 32)
    torch.manual_seed(0)
    outputs = [train(image(64, 64)) for _ in range(20)]
    assert all(o.shape == (3, 32, 32) for o in outputs)
    assert len({tuple(o[0, 10, :].tolist()) for o in outputs}) > 15  # different crops
    # A left-right ramp is flipped in about half of the draws.
    ramp = torch.linspace(0, 255, 64).round().to(torch.uint8).expand(3, 64, 64).contiguous()
    flips = sum(bool(train(ramp)[0, :, 0].mean() > train(ramp)[0, :, -1].mean()) for _ in range(200))
    assert 0.25 < flips / 200 < 0.75
