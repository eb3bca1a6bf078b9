"""itr-bench: benchmark image-text retrieval losses fairly.

Plugin authors need only ``itr_bench.hookimpl``, ``itr_bench.lazy`` (factories imported on first
use, so listing plugins stays fast) and the contracts in :mod:`itr_bench.api`. The modules a
plugin may import are listed in :data:`itr_bench.layers.PUBLIC`; every other module is internal.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from .hookspecs import hookimpl
from .lazy_import import lazy
from .options import Search

try:
    __version__ = _version("itr-bench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["Search", "__version__", "hookimpl", "lazy"]
