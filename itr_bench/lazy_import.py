"""Factories named by import path, imported when first called.

``itr-bench --help``, ``plugins`` and ``list`` import every plugin and call its ``register_*``
hooks; a plugin that imports its components' modules there makes them all wait for torch. A
plugin registers ``lazy("my_plugin.loss:MyLoss")`` instead (with a ``description=``, which
``list`` shows without importing anything) and the module is imported on the first call::

    register("circle", itr_bench.lazy("itr_bench_circle.loss:CircleLoss"),
             description="Circle loss on the cross-modal similarity matrix")
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from typing import Any


class LazyFactory:
    """Calls ``module:attribute``, importing the module on first use.

    It reports the target's ``__module__`` and ``__qualname__`` without importing it (records
    and failure messages name the plugin's module), and its signature is the target's
    (importing it), so option checks read the real parameters.
    """

    def __init__(self, target: str, package: str | None = None) -> None:
        module, colon, attribute = target.partition(":")
        if not colon or not module or not attribute:
            raise ValueError(f"lazy factory {target!r}: write 'package.module:attribute'")
        if module.startswith("."):
            if package is None:
                raise ValueError(f"lazy factory {target!r}: a relative module needs package=__name__")
            module = importlib.util.resolve_name(module, package)
        self.target = f"{module}:{attribute}"
        self.__module__, self.__qualname__ = module, attribute
        self._resolved: Any = None

    def resolve(self) -> Any:
        """The target itself (imported once)."""
        if self._resolved is None:
            module, _, attribute = self.target.partition(":")
            obj: Any = importlib.import_module(module)
            for part in attribute.split("."):
                obj = getattr(obj, part)
            self._resolved = obj
        return self._resolved

    def loaded(self) -> Any:
        """The target when its module is already imported (nothing is imported), else None."""
        if self._resolved is None and self.__module__ not in sys.modules:
            return None
        return self.resolve()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self.resolve())

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]
        return self.resolve().__doc__

    def __reduce__(self) -> tuple[Any, ...]:  # pickled by name (Ray, spawned processes)
        return LazyFactory, (self.target,)

    def __repr__(self) -> str:
        return f"lazy({self.target!r})"


def lazy(target: str, package: str | None = None) -> LazyFactory:
    """A factory that imports ``target`` (``'package.module:attribute'``) on its first call.

    ``package`` resolves a relative ``target`` (``lazy('.loss:MyLoss', __name__)``).
    """
    return LazyFactory(target, package)
