"""``train.log``: a run told in plain lines, so a user can read it without parsing JSON.

One line when the run starts or resumes, one per epoch (loss terms, pairs/s, learning rate and
the validation metrics when it validated), one when it finishes, and the reason when it fails.
Lines are appended, each stamped with the UTC time; only the first process of a data-parallel
run writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..metrics.declarations import DECLARED
from ..store.record import LOG

#: Epoch-record keys that are not loss terms.
_NOT_TERMS = {"stage", "epoch", "global_epoch", "steps", "seconds", "pairs_per_second", "lr", "val"}


def _numbers(values: Mapping[str, Any]) -> str:
    return " ".join(f"{key} {value:.4g}" for key, value in values.items() if isinstance(value, (int, float)))


class RunLog:
    """Appends lines to ``<run folder>/train.log``."""

    def __init__(self, folder: Path | str, enabled: bool = True) -> None:
        self.path = Path(folder) / LOG
        self.enabled = enabled

    def write(self, text: str) -> None:
        if not self.enabled:
            return
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(f"{stamp} {' '.join(text.split())}\n")

    def epoch(self, record: Mapping[str, Any], stage_epochs: Sequence[int]) -> None:
        """``stage 1/2 epoch 3/5: loss ... | 812 pairs/s | lr 0.1 | val rsum ...``."""
        stage = record["stage"]
        terms = {k: v for k, v in record.items() if k not in _NOT_TERMS}
        parts = [f"stage {stage + 1}/{len(stage_epochs)} epoch {record['epoch'] + 1}/{stage_epochs[stage]}: "
                 f"{_numbers(terms)}", f"{record['pairs_per_second']:.0f} pairs/s", f"lr {record['lr']:.4g}"]
        if record.get("val"):
            val = record["val"]
            parts.append(f"val {_numbers(dict(DECLARED.ordered(val)))}")
        self.write(" | ".join(parts))

    def failed(self, exc: BaseException) -> None:
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        self.write(f"failed: {reason}")
