import pytest
import torch
import torch.nn.functional as F

from itr_bench.data.prepare import prepare
from itr_bench.feed.device import (
    CPU_CHUNK_BYTES,
    DeviceImages,
    crop_batch,
    normaliser,
    random_crops,
    view_batch,
)


def test_from_prepared_split_and_views(registry, tmp_path):
    dataset = registry.create("dataset", "synthetic", None, train=6, val=2, test=2, image_size=40)
    bank = DeviceImages.from_split(prepare(dataset, tmp_path, 32, progress=False).split("train"))
    assert bank.images.shape == (6, 3, 32, 32) and bank.images.dtype == torch.uint8 and len(bank) == 6
    view = bank.view(torch.tensor([0, 5]))
    assert view.shape == (2, 3, 32, 32) and torch.equal(view, bank.view(torch.tensor([0, 5])))
    assert bank.view(torch.tensor([1]), size=16).shape == (1, 3, 16, 16)


def test_augment_is_the_paper_crop_and_flip():
    ramp = torch.linspace(0, 255, 64).round().to(torch.uint8).expand(64, 3, 64, 64).contiguous()
    bank = DeviceImages(ramp, mean=(0, 0, 0), std=(1 / 255,) * 3)  # output in raw 0..255 units
    out = bank.augment(torch.arange(64), size=32, generator=torch.Generator().manual_seed(0))
    assert out.shape == (64, 3, 32, 32)
    left, right = out[:, 0, :, 0].mean(1), out[:, 0, :, -1].mean(1)
    flipped = (left > right).float().mean().item()
    assert 0.25 < flipped < 0.75
    # A crop keeps at least ~0.8 of the area: the visible ramp spans most of the range.
    span = (left - right).abs()
    assert span.min() > 255 * 0.6 and span.max() <= 255
    again = bank.augment(torch.arange(64), size=32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_identity_geometry_without_augmentation():
    images = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    bank = DeviceImages(images, mean=(0, 0, 0), std=(1 / 255,) * 3)
    assert torch.allclose(bank.view(torch.tensor([0, 1])), images.float())


@pytest.mark.parametrize("threads", [1, 2])
def test_cpu_chunks_give_the_numbers_of_one_whole_batch_resampling(threads):
    """On the CPU a batch is finished a few images at a time (cache-sized chunks); at 224 px that
    must be bit-identical to the one batched call the GPU makes, with any thread count."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (9, 3, 224, 224), dtype=torch.uint8, generator=generator)
    theta = random_crops(9, generator)
    mean, std = normaliser("cpu")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        chunked, viewed = crop_batch(images, theta, 224, mean, std), view_batch(images, 160, mean, std)
    finally:
        torch.set_num_threads(previous)
    assert _in_chunks_step(224) < len(images)  # really chunked
    grid = F.affine_grid(theta, [9, 3, 224, 224], align_corners=False)
    whole = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    assert torch.equal(chunked, (whole - mean) / std)
    resized = F.interpolate(images.float(), size=(160, 160), mode="bilinear", antialias=True, align_corners=False)
    assert torch.equal(viewed, (resized - mean) / std)


def _in_chunks_step(side: int) -> int:
    return max(1, CPU_CHUNK_BYTES * 2 // (4 * 3 * side * side))


def test_crops_without_flip_draw_the_same_numbers_and_never_flip():
    flipping = random_crops(64, torch.Generator().manual_seed(5))
    kept = random_crops(64, torch.Generator().manual_seed(5), flip=False)
    assert (flipping[:, 0, 0] < 0).any() and (kept[:, 0, 0] > 0).all()
    assert torch.equal(flipping.abs(), kept.abs())
