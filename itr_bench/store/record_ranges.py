"""The values a record may hold, checked when it is read: an impossible one is never averaged.

A record is JSON anyone can edit or damage; its types are checked by :mod:`itr_bench.store.record`,
and its values here, against what they can be: each declared metric within its declared bounds
(:mod:`itr_bench.metrics.declarations`: R@K, mAP and mINP in [0, 100], rSum in [0, 600], ranks
at least 1), seeds and run positions at least 0, throughput and times at least 0. A value outside
is one line naming the file, the key, the value and the range.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ..errors import ItrBenchError
from .files import number_table
from ..metrics.declarations import DECLARED


def _outside(path: Path, key: str, value: float, low: float, high: float) -> ItrBenchError:
    bounds = f"at least {low:g}" if math.isinf(high) else f"in [{low:g}, {high:g}]"
    return ItrBenchError(f"{path}: {key}: {value!r} is impossible (it must be {bounds}); "
                         "the record is damaged or was edited, and is never counted")


def bounded_metrics(path: Path, key: str, value: Any) -> None:
    """A table of finite numbers, each declared metric within its bounds."""
    for name, number in number_table(value, path, key, finite=True).items():
        if name in DECLARED:
            low, high = DECLARED[name].bounds
            if not low <= number <= high:
                raise _outside(path, f"{key}.{name}", value[name], low, high)


def non_negative_integer(path: Path, key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ItrBenchError(f"{path}: {key}: expected an integer, got {value!r}")
    if value < 0:
        raise _outside(path, key, value, 0, math.inf)


def non_negative_number(path: Path, key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ItrBenchError(f"{path}: {key}: expected a number, got {value!r}")
    if not 0 <= value < math.inf:  # nan fails too
        raise _outside(path, key, value, 0, math.inf)
