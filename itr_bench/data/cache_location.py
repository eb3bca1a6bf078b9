"""Where prepared datasets are cached: the one lookup every run and command uses.

Kept apart from :mod:`itr_bench.data.prepare` (which imports Arrow and HF ``datasets``) so a
command's help text can say the default without importing them.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The environment variable that moves the cache for every run that does not name one.
CACHE_ENV = "ITR_BENCH_CACHE"
DEFAULT_CACHE = "~/.cache/itr-bench"
#: The lookup in words, for help texts.
CACHE_LOOKUP = f"${CACHE_ENV} or {DEFAULT_CACHE}"


def cache_dir(given: str | os.PathLike[str] | None = None) -> Path:
    """``given`` (a run's ``cache_dir``, ``--cache-dir``), else ``$ITR_BENCH_CACHE``, else
    ``~/.cache/itr-bench``; ``~`` is expanded in each. An empty value counts as not given."""
    return Path(given or os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()
