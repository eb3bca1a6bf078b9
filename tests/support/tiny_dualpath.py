"""A one-epoch run of the built-in dual-path encoders, shrunk to seconds on a CPU (test support:
the per-query results and the report train it through the real ``itr-bench train``)."""

from __future__ import annotations

from pathlib import Path

from tiny_toml import DUALPATH, stage, synthetic, write_run


def write_run_config(path: Path, cache: Path, *, name: str = "run", loss: str = "infonce", test: int = 16) -> Path:
    """Write the run's TOML to ``path`` (its prepared data cached under ``cache``) and return ``path``."""
    return write_run(path, cache, name=name, encoders=DUALPATH, dataset_options=synthetic(test=test),
                     stages=[stage({loss: 1.0}, lr=0.05)])
