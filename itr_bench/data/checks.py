"""Checks that a dataset's splits can be scored, made before any image is read.

A split whose protocol cannot be applied (more folds than images) would otherwise fail only
after training, as a traceback from the metrics; here it is one line at dry-run or prepare time.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..api import Split
from ..errors import ConfigError


def check_folds(splits: Mapping[str, Split], where: str) -> None:
    """Every split can be cut into its ``folds`` (1 to its number of images)."""
    for name, split in splits.items():
        images = len(split.samples)
        if not isinstance(split.folds, int) or isinstance(split.folds, bool) or not 1 <= split.folds <= images:
            raise ConfigError(
                f"{where}: the {name} split has {images} images, which cannot be cut into {split.folds!r} "
                "folds; choose fewer folds with the dataset's options"
            )
