"""The text path's own learning-rate multipliers, readable without importing torch (registration reads them)."""

from __future__ import annotations

from collections.abc import Mapping

#: The official ``fc2`` (word embedding) learning-rate multiplier (docs/paper-recipe.md row 7).
LR_MULTIPLIERS: Mapping[str, float] = {"text.embedding": 1e-3}
