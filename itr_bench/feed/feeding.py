"""Batches for training and evaluation from a prepared split.

Captions are tokenised once per split (:class:`CaptionTokens`), so a step only indexes a
tensor. Images come either from a :class:`~itr_bench.feed.device.DeviceImages` tensor on the
training device (augmented there in one batched call: nothing is decoded during training), or,
for splits too large for that, from :class:`~itr_bench.feed.streaming.StreamingImages`, whose
worker processes decode the cached JPEGs (:func:`~itr_bench.feed.placement.plan_feed` chooses,
from the device's free memory, and the run record's ``feed`` says which ran and why). Every
random choice is drawn here, per global batch, from the feed's seeded generator, and both paths
apply it with the same functions: a batch is the same tensor on either path, with any number of
workers.

**Budgets.** A paired epoch (anchors then mined negatives) has as many batches as an unpaired
one, ``N / B``: each batch of the epoch's order keeps its first half as anchors and fills the
second half with their negatives. That is the official code's layout (``cnn_train_dag``: an
epoch is every training image once in batches of 32, the first 16 the positive pairs, the
rest replaced by mined negatives; ``docs/fair-benchmark.md``), and it gives every layout the
same optimizer steps and image-caption pairs per epoch, so runs with equal epochs get equal
budgets (the alternative, every image an anchor once, doubles a paired epoch's steps and
would make ``epochs`` mean two budgets). Mining draws from a stream of its own
(:attr:`TrainFeed.mining`), so the feed's stream, hence every anchor's caption, shift and
crop, is the one an unpaired run of the seed draws.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..api import TrainingPairs
from ..data.prepare import PreparedSplit
from ..errors import ItrBenchError
from .device import DeviceImages, random_crops
from .negatives import BatchPool, NegativeMining
from .placement import DEVICE_MEMORY_FRACTION, FeedPlan, plan_feed
from .samplers import EpochCaptionSampler, IdentityBatchSampler
from .streaming import Request, StreamingImages
from .transforms import view

#: Offset of the mining stream's seed from the feed's (any fixed number far from real seeds).
MINING_STREAM = 1 << 40

#: How each fit of a view (``itr_bench.feed.transforms.ImageView``) shapes the stored image.
_FITS = {"crop": "central square", "squash": "whole image squashed to a square", "full": "whole image, aspect kept"}


def describe_view(name: str, flip: bool = True) -> str:
    """What view ``name`` does to an image, in words, for records (the same on either feeding path)."""
    chosen = view(name)
    text = f"{name}: {_FITS[chosen.fit]}"
    if chosen.augment:
        text += "; random resized crop 0.8-1 of the area, aspect 3/4-4/3, " + (
            "horizontal flip p=0.5" if flip else "no flip (the dataset is not flip-safe)")
    return text + "; bilinear resampling, batched"


def test_view(split: PreparedSplit, image_size: int, transform: str = "test") -> str:
    """What :func:`test_images` does to ``split``'s images, in words."""
    return describe_view(transform)


@dataclass(frozen=True)
class CaptionTokens:
    """Every caption of a split tokenised once: ``ids[offsets[i] + k]`` is image i's caption k."""

    ids: Tensor
    offsets: Tensor
    counts: Tensor

    @classmethod
    def build(cls, captions: Sequence[Sequence[str]], tokenizer: Callable[[Sequence[str]], Tensor]) -> "CaptionTokens":
        counts = torch.tensor([len(c) for c in captions], dtype=torch.long)
        flat = [caption for image_captions in captions for caption in image_captions]
        ids = torch.cat([tokenizer(flat[i : i + 4096]) for i in range(0, len(flat), 4096)]) if flat else torch.empty(0, 1, dtype=torch.long)
        offsets = torch.cumsum(counts, 0) - counts
        return cls(ids, offsets, counts)

    @property
    def caption_image(self) -> Tensor:
        """``(M,)`` image index of each caption."""
        return torch.repeat_interleave(torch.arange(len(self.counts)), self.counts)

    def select(self, images: Tensor, captions: Tensor) -> Tensor:
        return self.ids[self.offsets[images] + captions]


@dataclass
class Batch:
    images: Tensor
    token_ids: Tensor
    instance_ids: Tensor


class TrainFeed:
    """One epoch of training batches: the paper's sampling or identity-aware P x K batches."""

    def __init__(
        self,
        split: PreparedSplit,
        tokens: CaptionTokens,
        *,
        batch_size: int,
        image_size: int,
        device: torch.device,
        seed: int,
        sampler: str = "epoch",
        samples_per_identity: int = 4,
        transform: str = "paper-train",
        augment_ids: Callable[[Tensor, torch.Generator], Tensor] | None = None,
        workers: int | None = None,
        memory_fraction: float = DEVICE_MEMORY_FRACTION,
        plan: FeedPlan | None = None,
        rank: int = 0,
        world_size: int = 1,
        flip: bool = True,
    ) -> None:
        self.split, self.tokens = split, tokens
        self.flip = flip  # False for datasets that are not flip-safe (``Dataset.flip_safe``)
        self.batch_size, self.image_size, self.device = batch_size, image_size, device
        self.rank, self.world_size = rank, world_size
        self.augment_ids = augment_ids or (lambda ids, generator: ids)
        self.instance_ids = torch.tensor(split.table["instance_id"], dtype=torch.long)
        counts = tokens.counts.tolist()
        if sampler == "identity":
            identities = max(1, batch_size * world_size // samples_per_identity)
            self.sampler = IdentityBatchSampler(self.instance_ids.tolist(), counts, identities=identities,
                                                per_identity=samples_per_identity, seed=seed)
        else:
            self.sampler = EpochCaptionSampler(counts, seed=seed)
        self.batched = sampler == "identity"
        self.images: DeviceImages | None = None
        self.stream: StreamingImages | None = None
        fit = view(transform).fit  # the same view on either path
        #: which path feeds the split and why (``plan`` given: chosen by the caller)
        self.plan = plan or plan_feed(len(split), image_size, device, fraction=memory_fraction, workers=workers)
        if self.plan.path == "device":
            self.images = DeviceImages.from_split(split, device=device, size=image_size, fit=fit)
        else:
            self.stream = StreamingImages(split, side=image_size, fit=fit, device=device, workers=self.plan.workers,
                                          batch_size=batch_size)
        self.generator = torch.Generator().manual_seed(seed)
        #: Negative mining's own stream (candidates, their captions, shifts and crops).
        self.mining = torch.Generator().manual_seed(seed + MINING_STREAM)
        #: The crop rule training images really get.
        self.image_augmentation = describe_view(transform, flip)

    def __len__(self) -> int:
        return self.batches()

    def batches(self) -> int:
        """Batches (optimizer steps) per epoch, the same for paired and unpaired layouts."""
        if self.batched:
            return len(self.sampler)
        return len(self.sampler) // self._global_step()

    def _global_step(self) -> int:
        """Keys of the epoch's order one global batch consumes."""
        return self.batch_size * self.world_size

    def epoch(self, epoch: int, negatives: NegativeMining | None = None) -> Iterator[Batch]:
        """The batches of ``epoch`` for this process (deterministic given seed and epoch).

        Random choices (captions, crops, text shifts) are drawn for the whole global batch and
        each process keeps its share, so a global batch is the same for any number of processes.
        With ``negatives`` each batch is ``B/2`` anchors then their negatives (see
        :mod:`itr_bench.feed.negatives`).
        """
        self._start(epoch)
        if negatives is not None:
            yield from self._paired_batches(negatives)
            return
        plans = self._plans()
        if self.stream is None:
            for index, crops, ids in plans:
                yield self._batch(self._images(index, crops), ids, index)
            return
        ahead, behind = itertools.tee(plans)  # the workers' requests run ahead of the steps
        loaded = self.stream.stream(Request(index, crops) for index, crops, _ in ahead)
        for (index, _, ids), images in zip(behind, loaded):
            yield self._batch(images, ids, index)

    def first_batch(self) -> Batch | None:
        """Epoch 0's first batch, the one :meth:`epoch` yields first, loaded on its own.

        Breaking off ``epoch(0)`` after one batch would leave the streaming workers' prefetched
        requests in flight, to be finished and thrown away when the next epoch starts.
        """
        self._start(0)
        for index, crops, ids in self._plans():
            return self._batch(self._images(index, crops), ids, index)
        return None

    def _start(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)
        self.generator.manual_seed(self.sampler.seed * 7919 + epoch)
        self.mining.manual_seed(self.sampler.seed * 7919 + epoch + MINING_STREAM)

    def _plans(self) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        """Per global batch, this process's share: image indices, crops and token ids.

        Everything random is drawn here, for the whole global batch, in one order (text
        augmentation, then crops), whichever path loads the images.
        """
        mine = slice(self.rank, None, self.world_size)  # this process's shard of the global batch
        for anchors, crops in self._global_plans():
            yield anchors.images[mine], crops[mine], anchors.token_ids[mine]

    def _global_plans(self) -> Iterator[tuple[TrainingPairs, Tensor]]:
        """Per global batch, from the feed's stream: its pairs and their crops (one order)."""
        for keys in self._global_batches():
            index = torch.tensor([k[0] for k in keys], dtype=torch.long)
            caption = torch.tensor([k[1] for k in keys], dtype=torch.long)
            ids = self.augment_ids(self.tokens.select(index, caption), self.generator)
            yield TrainingPairs(index, caption, ids), random_crops(len(index), self.generator, self.flip)

    def _batch(self, images: Tensor, ids: Tensor, index: Tensor) -> Batch:
        return Batch(images, ids.to(self.device), self.instance_ids[index].to(self.device))

    def _paired_batches(self, negatives: NegativeMining) -> Iterator[Batch]:
        """Anchors: the first half of each global batch an unpaired epoch draws; negatives from
        the sampler, on the mining stream. Each process keeps its share of both halves, so its
        slot ``B/2 + k`` still holds its anchor k's negative."""
        if self.batched:
            raise ItrBenchError("negative sampling needs the epoch sampler (sampler = 'epoch'), "
                                "not identity batches")
        mine = slice(self.rank, None, self.world_size)
        for pairs, all_crops in self._global_plans():
            half = len(pairs) // 2
            anchors = TrainingPairs(pairs.images[:half], pairs.captions[:half], pairs.token_ids[:half])
            crops = all_crops[:half]
            pool = BatchPool(self.instance_ids, self.mining, self._pairs,
                             lambda: self._images(anchors.images, crops), negatives.embedder)
            chosen = negatives.sampler.choose(anchors, pool)
            if len(chosen) != len(anchors):
                raise ItrBenchError(f"negative sampler {type(negatives.sampler).__name__} returned "
                                    f"{len(chosen)} pairs for {len(anchors)} anchors")
            negative_crops = random_crops(len(chosen), self.mining, self.flip)
            anchor_images = (pool.anchor_images[mine] if pool.anchor_images is not None
                             else self._images(anchors.images[mine], crops[mine]))
            images = torch.cat([anchor_images, self._images(chosen.images[mine], negative_crops[mine])])
            ids = torch.cat([anchors.token_ids[mine], chosen.token_ids[mine]])
            instance_ids = torch.cat([self.instance_ids[anchors.images[mine]], self.instance_ids[chosen.images[mine]]])
            yield Batch(images, ids.to(self.device), instance_ids.to(self.device))

    def _pairs(self, images: Tensor) -> TrainingPairs:
        """Negative candidates: pairs of ``images`` with a random caption each, text augmented,
        drawn on the mining stream."""
        images = images.long()
        captions = (torch.rand(len(images), generator=self.mining) * self.tokens.counts[images]).long()
        ids = self.augment_ids(self.tokens.select(images, captions), self.mining)
        return TrainingPairs(images, captions, ids)

    def _global_batches(self) -> Iterator[list[tuple[int, int]]]:
        if self.batched:
            yield from iter(self.sampler)
            return
        keys = list(iter(self.sampler))
        step = self._global_step()
        for start in range(0, len(keys) - step + 1, step):  # drop the last partial batch
            yield keys[start : start + step]

    def _images(self, index: Tensor, crops: Tensor) -> Tensor:
        if self.images is not None:
            return self.images.crop(index, crops, self.image_size)
        assert self.stream is not None
        return self.stream.load(index, crops)


def test_images(split: PreparedSplit, image_size: int, batch_size: int, device: torch.device,
                transform: str = "test", workers: int | None = None,
                memory_fraction: float = DEVICE_MEMORY_FRACTION) -> Iterator[tuple[Tensor, Tensor]]:
    """``(indices, images)`` batches covering every image of a split once, in the test view ``transform``.

    Square views come from a device-resident tensor when the split fits (:func:`plan_feed`), else
    are streamed from the cache; ``test-full`` keeps each image's aspect, so it is always
    streamed, in batches of one stored shape. Both paths give the same tensors.
    """
    fit = view(transform).fit
    plan = plan_feed(len(split), image_size, device, fraction=memory_fraction, workers=workers, square=fit != "full")
    if plan.path == "device":
        images = DeviceImages.from_split(split, device=device, size=image_size, fit=fit)
        for start in range(0, len(images), batch_size):
            index = torch.arange(start, min(start + batch_size, len(images)))
            yield index, images.view(index)
        return
    batches = [torch.tensor(b, dtype=torch.long) for b in (_by_shape(split, batch_size) if fit == "full" else [
        list(range(start, min(start + batch_size, len(split)))) for start in range(0, len(split), batch_size)])]
    stream = StreamingImages(split, side=image_size, fit=fit, device=device, workers=min(plan.workers, len(batches)),
                             batch_size=batch_size)
    yield from zip(batches, stream.stream(Request(index) for index in batches))


def _by_shape(split: PreparedSplit, batch_size: int) -> list[list[int]]:
    """Image indices in batches of one stored shape (read from the JPEG headers, nothing decoded)."""
    from PIL import Image

    groups: dict[tuple[int, int], list[int]] = {}
    for i, data in enumerate(split.table["image"]):
        with Image.open(io.BytesIO(data)) as image:
            groups.setdefault(image.size, []).append(i)
    return [members[start : start + batch_size] for members in groups.values()
            for start in range(0, len(members), batch_size)]
