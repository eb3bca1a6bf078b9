"""The values a record may hold, declared, and checked when it is read: an impossible one is never averaged.

A record is JSON anyone can edit or damage. Its fields' types and limits are declared here as
ordinary annotations and checked by the checker run configs and component options use
(:func:`itr_bench.options.value_problem`): each declared metric within its declared bounds
(:mod:`itr_bench.metrics.declarations`: R@K, mAP and mINP in [0, 100], rSum in [0, 600], ranks
at least 1), every other metric finite, seeds and run positions at least 0, throughput and times
at least 0. A value outside is one line naming the file, the key, the value and the range.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from annotated_types import Ge, Gt, Le, Lt

from ..metrics.declarations import DECLARED
from ..options import Table

#: Any finite number (the checker refuses nan and the infinities wherever limits are declared).
Finite = Annotated[float, Gt(-math.inf), Lt(math.inf)]
NonNegativeInteger = Annotated[int, Ge(0)]
NonNegativeNumber = Annotated[float, Ge(0)]
#: A metrics table (``test``, ``val``, ``untrained``): each declared metric within its bounds.
METRICS = Table({metric.name: Annotated[float, Ge(metric.bounds[0]), Le(metric.bounds[1])] for metric in DECLARED},
                other=Finite)


def say_impossible(value: Any, bounds: list[Any], integer: bool) -> str:
    """How a record's reader words a value outside its limits (it was damaged or edited)."""
    if not math.isfinite(value):
        return f"expected a finite number, got {value!r}"
    low = next((_limit(b) for b in bounds if isinstance(b, (Ge, Gt))), -math.inf)
    high = next((_limit(b) for b in bounds if isinstance(b, (Le, Lt))), math.inf)
    range_ = f"at least {low:g}" if math.isinf(high) else f"in [{low:g}, {high:g}]"
    return f"{value!r} is impossible (it must be {range_}); the record is damaged or was edited, and is never counted"


def _limit(bound: Any) -> float:
    return next(getattr(bound, name) for name in ("gt", "ge", "lt", "le") if hasattr(bound, name))
