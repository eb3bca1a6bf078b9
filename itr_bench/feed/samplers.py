"""Which (image, caption) pairs a training epoch visits.

Both samplers yield ``(image_index, caption_index)`` keys, which :class:`CachedSplit` accepts,
and are deterministic given ``seed`` and the epoch (call ``set_epoch`` or let each pass over
the sampler advance it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

from ..errors import ConfigError


class _Epochs:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _next_generator(self) -> torch.Generator:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        self.epoch += 1
        return generator


def _random_captions(counts: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(len(counts), generator=generator) * counts).long()


class EpochCaptionSampler(_Epochs, Sampler[tuple[int, int]]):
    """The paper's epoch: every training image once, in random order, each with one random caption."""

    def __init__(self, captions_per_image: Sequence[int], seed: int = 0) -> None:
        super().__init__(seed)
        self.counts = torch.as_tensor(list(captions_per_image), dtype=torch.float64)
        if len(self.counts) == 0 or bool((self.counts < 1).any()):
            raise ConfigError("EpochCaptionSampler: every image needs at least one caption")

    def __len__(self) -> int:
        return len(self.counts)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = self._next_generator()
        order = torch.randperm(len(self.counts), generator=generator)
        captions = _random_captions(self.counts[order], generator)
        return iter(zip(order.tolist(), captions.tolist()))


class IdentityBatchSampler(_Epochs, Sampler[list[tuple[int, int]]]):
    """Person-search batches: P identities x K images each, every identity once per epoch.

    An identity with fewer than K images repeats some (with a different random caption);
    identities are shuffled each epoch and a last incomplete batch is dropped.
    """

    def __init__(
        self,
        instance_ids: Sequence[int],
        captions_per_image: Sequence[int],
        identities: int,
        per_identity: int,
        seed: int = 0,
    ) -> None:
        super().__init__(seed)
        if len(instance_ids) != len(captions_per_image):
            raise ConfigError("IdentityBatchSampler: instance_ids and captions_per_image differ in length")
        ids = torch.as_tensor(list(instance_ids))
        self.groups = [torch.nonzero(ids == value).flatten() for value in torch.unique(ids)]
        self.counts = torch.as_tensor(list(captions_per_image), dtype=torch.float64)
        if identities < 1 or per_identity < 1 or identities > len(self.groups):
            raise ConfigError(
                f"IdentityBatchSampler: need 1 <= P <= {len(self.groups)} identities and K >= 1, "
                f"got P={identities}, K={per_identity}"
            )
        self.identities, self.per_identity = identities, per_identity

    def __len__(self) -> int:
        return len(self.groups) // self.identities

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        generator = self._next_generator()
        order = torch.randperm(len(self.groups), generator=generator)
        for start in range(0, len(self) * self.identities, self.identities):
            batch: list[tuple[int, int]] = []
            for group in (self.groups[i] for i in order[start : start + self.identities].tolist()):
                if len(group) >= self.per_identity:
                    chosen = group[torch.randperm(len(group), generator=generator)[: self.per_identity]]
                else:
                    chosen = group[torch.randint(len(group), (self.per_identity,), generator=generator)]
                captions = _random_captions(self.counts[chosen], generator)
                batch.extend(zip(chosen.tolist(), captions.tolist()))
            yield batch
