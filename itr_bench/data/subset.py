"""The first N images of each split of a dataset: quick benchmarks and tests on real data."""

from __future__ import annotations

from collections.abc import Mapping

from ..api import Dataset, Split


class HeadSubset(Dataset):
    """``dataset`` with each split cut to its first ``per_split`` images (instance ids kept)."""

    def __init__(self, dataset: Dataset, per_split: int) -> None:
        self.dataset = dataset
        self.per_split = per_split
        self.text = dataset.text  # type: ignore[misc]  # instance value shadows the ClassVar on purpose
        self.hints = dataset.hints  # type: ignore[misc]
        self.flip_safe = dataset.flip_safe  # type: ignore[misc]
        self.name = getattr(dataset, "name", None)  # type: ignore[misc]  # results keep the dataset's name

    def splits(self) -> Mapping[str, Split]:
        return {
            name: Split(name, list(split.samples[: self.per_split]), split.protocol, split.folds)
            for name, split in self.dataset.splits().items()
        }

    def fingerprint(self) -> str:
        return f"{self.dataset.fingerprint()}-head{self.per_split}"
