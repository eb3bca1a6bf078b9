"""The registry: what the plugins registered, by (kind, name).

A :class:`Registry` is an ordinary object built from a plugin manager (see
:func:`itr_bench.plugins.load_registry`); there is no module-level registry, so two
registries never leak into each other (tests build a fresh one each).
"""

from __future__ import annotations

import fnmatch
import re
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import DuplicateComponentError, RegistryError, UnknownComponentError, did_you_mean

#: The kinds of component, each filled by one hook (see hookspecs.py).
KINDS: tuple[str, ...] = ("image_encoder", "text_encoder", "loss", "negative_sampler", "dataset", "suite")



def plural(kind: str) -> str:
    """The command-line spelling of a kind: ``loss`` -> ``losses``, ``image_encoder`` -> ``image-encoders``."""
    word = kind.replace("_", "-")
    return word + ("es" if word.endswith("s") else "s")


#: Spellings accepted on the command line for each kind ("losses", "image-encoders", ...).
KIND_ALIASES: Mapping[str, str] = types.MappingProxyType(
    {alias: kind for kind in KINDS for alias in (kind, kind.replace("_", "-"), plural(kind), plural(kind).replace("-", "_"))}
)

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.+-]*$")


def _first_doc_line(obj: Any) -> str:
    doc = getattr(obj, "__doc__", None) or ""
    for line in doc.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


@dataclass(frozen=True)
class ComponentInfo:
    """One registered component: what it is, who registered it, how to build it."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    description: str = ""
    metadata: Mapping[str, Any] = field(default_factory=lambda: types.MappingProxyType({}))

    def create(self, /, *args: Any, **kwargs: Any) -> Any:
        """Call the factory."""
        return self.factory(*args, **kwargs)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly view (the factory as its import path)."""
        factory = f"{getattr(self.factory, '__module__', '?')}.{getattr(self.factory, '__qualname__', repr(self.factory))}"
        return {
            "kind": self.kind,
            "name": self.name,
            "plugin": self.plugin,
            "description": self.description,
            "factory": factory,
            "metadata": {k: v for k, v in self.metadata.items() if _jsonable(v)},
        }


def _jsonable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, type(None), list, tuple, dict))


class Registry:
    """Components by kind and name; names are unique within a kind."""

    def __init__(self, kinds: Iterable[str] = KINDS) -> None:
        self._items: dict[str, dict[str, ComponentInfo]] = {kind: {} for kind in kinds}

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self._items)

    def register(
        self,
        kind: str,
        name: str,
        factory: Callable[..., Any],
        *,
        plugin: str,
        description: str | None = None,
        **metadata: Any,
    ) -> ComponentInfo:
        """Add a component; a second registration of the same name is an error naming both plugins."""
        table = self._table(kind)
        if not isinstance(name, str) or not _NAME.match(name):
            raise RegistryError(
                f"plugin {plugin!r} registered {kind} name {name!r}: names are lower-case letters, "
                "digits and '_.+-', starting with a letter or digit"
            )
        if not callable(factory):
            raise RegistryError(
                f"plugin {plugin!r} registered {kind} {name!r} with a factory that is not callable "
                f"({type(factory).__name__})"
            )
        if name in table:
            other = table[name].plugin
            raise DuplicateComponentError(
                f"{kind} {name!r} is registered by both {other!r} and {plugin!r}"
                + (" (twice by the same plugin)" if other == plugin else "")
            )
        info = ComponentInfo(
            kind=kind,
            name=name,
            factory=factory,
            plugin=plugin,
            description=description if description is not None else _first_doc_line(factory),
            metadata=types.MappingProxyType(dict(metadata)),
        )
        table[name] = info
        return info

    def get(self, kind: str, name: str) -> ComponentInfo:
        """The component ``name`` of ``kind``; an unknown name lists close names."""
        table = self._table(kind)
        try:
            return table[name]
        except KeyError:
            raise UnknownComponentError(
                f"unknown {kind} {name!r}: {did_you_mean(name, table)}"
            ) from None

    def create(self, kind: str, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Look up ``name`` and call its factory."""
        return self.get(kind, name).create(*args, **kwargs)

    def list(self, kind: str | None = None, filter: str | None = None) -> list[ComponentInfo]:
        """Components sorted by kind then name, optionally of one kind and matching a glob."""
        kinds = self.kinds if kind is None else (self._check_kind(kind),)
        return [
            info
            for k in kinds
            for info in sorted(self._items[k].values(), key=lambda i: i.name)
            if filter is None or fnmatch.fnmatchcase(info.name, filter)
        ]

    def names(self, kind: str) -> list[str]:
        return sorted(self._table(kind))

    def __contains__(self, key: tuple[str, str]) -> bool:
        kind, name = key
        return name in self._items.get(kind, {})

    def __iter__(self) -> Iterator[ComponentInfo]:
        return iter(self.list())

    def __len__(self) -> int:
        return sum(len(t) for t in self._items.values())

    def _check_kind(self, kind: str) -> str:
        canonical = KIND_ALIASES.get(kind, kind)
        if canonical not in self._items:
            raise UnknownComponentError(
                f"unknown component kind {kind!r}: {did_you_mean(kind, [plural(k) for k in self._items])}"
            )
        return canonical

    def _table(self, kind: str) -> dict[str, ComponentInfo]:
        return self._items[self._check_kind(kind)]
