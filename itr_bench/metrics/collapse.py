"""Have a split's embeddings collapsed? Two measures per modality, and the flag they raise.

A model that maps (nearly) every input to the same point, or varies its outputs along a single
direction, can no longer order thousands of items, whatever a metric makes of the result. Two
measures on the L2-normalised embeddings of each modality catch the two ways this happens:

- ``duplicate_fraction``: the share of rows that have a near-duplicate among the other rows
  (cosine >= 1 - 1e-6, i.e. the same point up to float32 noise). Collapse to a point gives 1;
  a working model gives about 0 (identical captions are the only honest duplicates).
- ``effective_rank``: the participation ratio ``(Σλ)² / Σλ²`` of the eigenvalues of the
  *centred* covariance, i.e. how many directions the rows really vary along (1 for one
  direction, k for an even spread over k, at most D; 0 when the rows do not vary at all).
  Centred, because retrieval only sees how items differ: untrained networks put every row near
  one common direction (their uncentred second moment has an effective rank of about 1) and
  still rank by their differences.

A split is flagged degenerate when, for its images or its texts, at least half of the rows are
near-duplicates (:data:`DUPLICATES_AT`: most items cannot be told from another one), or the
effective rank is below :data:`EFFECTIVE_RANK_BELOW`. For eigenvalue shares ``1 - ε, ...`` the
ratio is about ``1 + 2ε``, so 1.05 means more than ~97.5% of the variation lies along one
direction: the items are, in effect, ordered along a line. The threshold sits below what
healthy models measure, including weak ones: the untrained scaled-down dual-path model and a
random-weight timm ResNet-18 measure 3.1-4.5 on the synthetic validation split, and the 16-d
test model of ``tests/support/tiny_models.py``, whose variation is dominated by one direction,
1.2-1.6 (the rank alone is not a quality score: a dominant direction can coexist with useful
minor ones, hence the low threshold). Rows beyond :data:`MAX_ROWS` are subsampled (evenly
spaced, so the result is deterministic) to bound the cost at COCO-5K scale.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

DUPLICATES_AT = 0.5
EFFECTIVE_RANK_BELOW = 1.05
#: cosine at or above which two rows count as the same point
DUPLICATE_COSINE = 1 - 1e-6
MAX_ROWS = 4096
#: mean squared distance from the centre below which rows count as not varying at all (float32
#: rounding of identical rows leaves ~1e-15, which would otherwise look like isotropic spread)
VARIANCE_FLOOR = 1e-9
MEASURES = ("effective_rank", "duplicate_fraction")
MODALITIES = ("image", "text")
RULE = (f"degenerate when images or texts have duplicate_fraction >= {DUPLICATES_AT} or effective_rank < "
        f"{EFFECTIVE_RANK_BELOW} (itr_bench/collapse.py)")


def _rows(embeddings: Tensor, max_rows: int) -> Tensor:
    x = embeddings.detach().float()
    if len(x) > max_rows:
        x = x[torch.linspace(0, len(x) - 1, max_rows).long()]
    return F.normalize(x, dim=1)


def effective_rank(embeddings: Tensor, max_rows: int = MAX_ROWS) -> float:
    """Participation ratio of the centred covariance of the L2-normalised rows; 0 if they do not vary."""
    x = _rows(embeddings, max_rows)
    if len(x) < 2 or not torch.isfinite(x).all():
        return 0.0
    x = x - x.mean(0)
    gram = x @ x.T if len(x) <= x.shape[1] else x.T @ x  # the same non-zero eigenvalues either way
    total, squares = torch.trace(gram), (gram * gram).sum()
    return float(total * total / squares) if total / len(x) > VARIANCE_FLOOR else 0.0


def duplicate_fraction(embeddings: Tensor, max_rows: int = MAX_ROWS) -> float:
    """Share of rows with a near-duplicate (cosine >= :data:`DUPLICATE_COSINE`) among the other rows."""
    x = _rows(embeddings, max_rows)
    if len(x) < 2:
        return 0.0
    if not torch.isfinite(x).all():
        return 1.0
    cosine = x @ x.T
    cosine.fill_diagonal_(-2.0)
    return float((cosine.amax(1) >= DUPLICATE_COSINE).double().mean())


def collapse_measures(images: Tensor, texts: Tensor) -> dict[str, float]:
    """``image_effective_rank``, ``image_duplicate_fraction``, ``text_...``: stored beside a split's metrics."""
    measures = {}
    for modality, embeddings in zip(MODALITIES, (images, texts)):
        measures[f"{modality}_effective_rank"] = effective_rank(embeddings)
        measures[f"{modality}_duplicate_fraction"] = duplicate_fraction(embeddings)
    return measures


def is_degenerate(measures: Mapping[str, float] | None) -> bool | None:
    """Whether a split's measures say it collapsed; None when they were not recorded (older records)."""
    measures = measures or {}
    keys = [f"{m}_{name}" for m in MODALITIES for name in MEASURES]
    if not any(key in measures for key in keys):
        return None
    return any(measures.get(f"{m}_duplicate_fraction", 0.0) >= DUPLICATES_AT
               or measures.get(f"{m}_effective_rank", float("inf")) < EFFECTIVE_RANK_BELOW for m in MODALITIES)
