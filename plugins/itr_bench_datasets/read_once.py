"""Splits read from a dataset's files once, on first use, and kept (shared by the built-in datasets)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property

from itr_bench.api import Split


class SplitsReadOnce:
    """Mixin for a :class:`~itr_bench.api.Dataset` that reads its splits with :meth:`read_splits`.

    Building the dataset stays cheap (it checks its options and finds its files, reading nothing),
    so ``--dry-run`` and the plugin listing never parse annotations; the first ``splits()`` reads
    them and every later one (preparation, fingerprinting, hints) reuses what was read. List it
    before ``Dataset``: ``class Flickr8k(SplitsReadOnce, Dataset)``.
    """

    def read_splits(self) -> Mapping[str, Split]:
        """Read every split from the dataset's files (called once)."""
        raise NotImplementedError

    def splits(self) -> Mapping[str, Split]:
        return self._read

    @cached_property
    def _read(self) -> Mapping[str, Split]:
        return self.read_splits()
