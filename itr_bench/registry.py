"""The registry: what the plugins registered, by (kind, name).

A :class:`Registry` is an ordinary object built from a plugin manager (see
:func:`itr_bench.plugins.load_registry`); there is no module-level registry, so two
registries never leak into each other (tests build a fresh one each).
"""

from __future__ import annotations

import fnmatch
import functools
import re
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import DuplicateComponentError, ItrBenchError, RegistryError, UnknownComponentError, did_you_mean
from .lazy_import import LazyFactory
from .options import Options, from_callable, read_source

#: The kinds of component, each filled by one hook (see hookspecs.py).
KINDS: tuple[str, ...] = ("image_encoder", "text_encoder", "loss", "negative_sampler", "dataset", "suite", "tracker")

#: How many positional arguments the core passes each kind's factory before the options
#: (``factory(context, **options)``, ``factory(root, **options)``, ``factory(**options)``; see hookspecs.py).
FIXED_ARGUMENTS: Mapping[str, int] = types.MappingProxyType(
    {"image_encoder": 1, "text_encoder": 1, "loss": 1, "dataset": 1, "negative_sampler": 0, "suite": 0, "tracker": 0}
)



def plural(kind: str) -> str:
    """The command-line spelling of a kind: ``loss`` -> ``losses``, ``image_encoder`` -> ``image-encoders``."""
    word = kind.replace("_", "-")
    return word + ("es" if word.endswith("s") else "s")


#: Spellings accepted on the command line for each kind ("losses", "image-encoders", ...).
KIND_ALIASES: Mapping[str, str] = types.MappingProxyType(
    {alias: kind for kind in KINDS for alias in (kind, kind.replace("_", "-"), plural(kind), plural(kind).replace("-", "_"))}
)

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.+-]*$")


def _first_doc_line(doc: str) -> str:
    for line in doc.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


@dataclass(frozen=True)
class ComponentInfo:
    """One registered component: what it is, who registered it, how to build it.

    A factory registered with :func:`itr_bench.lazy` is not imported to read its options or
    description: :attr:`options` and :attr:`description` read its source file.
    """

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    given_description: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=lambda: types.MappingProxyType({}))

    @functools.cached_property
    def _declared(self) -> tuple[Options, str]:
        skip = FIXED_ARGUMENTS.get(self.kind, 1)
        if isinstance(self.factory, LazyFactory):
            read = read_source(self.factory.target, skip)
            if read is not None:
                return read
        target = getattr(self.factory, "func", self.factory)  # functools.partial
        return from_callable(self.factory, skip), getattr(target, "__doc__", None) or ""

    @property
    def options(self) -> Options:
        """The options the factory declares (name, type, default, help)."""
        return self._declared[0]

    @property
    def description(self) -> str:
        """The registered description, else the first line of the factory's docstring."""
        if self.given_description is not None:
            return self.given_description
        return _first_doc_line(self._declared[1])

    @property
    def module(self) -> str:
        """The module that defines the factory (a lazy factory's, without importing it)."""
        target = getattr(self.factory, "func", self.factory)
        return str(getattr(target, "__module__", "") or "")

    @property
    def label(self) -> str:
        """``loss 'ranking' (plugin 'itr_bench_losses')``: how errors name the component."""
        return f"{self.kind.replace('_', ' ')} {self.name!r} (plugin {self.plugin!r})"

    def check_options(self, options: Mapping[str, Any], where: str = "", key: str = "") -> None:
        """One :class:`~itr_bench.errors.ConfigError` line for an unknown, mistyped or out-of-range option."""
        self.options.check(options, self.label, where, key)

    def create(self, /, *args: Any, **kwargs: Any) -> Any:
        """Call the factory as it is (no checks); :meth:`Registry.build` is what the core calls."""
        return self.factory(*args, **kwargs)

    def as_dict(self, options: bool = False) -> dict[str, Any]:
        """JSON-friendly view (the factory as its import path; with ``options``, each declared option)."""
        target = getattr(self.factory, "func", self.factory)
        factory = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', repr(target))}"
        data = {
            "kind": self.kind,
            "name": self.name,
            "plugin": self.plugin,
            "description": self.description,
            "factory": factory,
            "metadata": {k: v for k, v in self.metadata.items() if _jsonable(v)},
        }
        if options:
            data["options"] = [option.as_dict() for option in self.options]
            data["open_options"] = self.options.open
        return data


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
            given_description=description,
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

    def create(self, kind: str, name: str, /, *args: Any, **options: Any) -> Any:
        """:meth:`build` with the options as keyword arguments."""
        return self.build(kind, name, *args, options=options)

    def build(self, kind: str, name: str, /, *args: Any, options: Mapping[str, Any] | None = None,
              where: str = "", key: str = "") -> Any:
        """The one way the core builds a component: look it up, check its options, call its factory.

        ``args`` are the fixed arguments of the kind (a context, a root); ``where`` (a file, a
        command) and ``key`` (the table the options came from) prefix error lines. An unknown,
        mistyped or out-of-range option is a :class:`~itr_bench.errors.ConfigError` before anything
        is built; an :class:`~itr_bench.errors.ItrBenchError` the factory raises is re-raised
        naming the component and its plugin; any other exception (a bug) keeps its traceback,
        with a note naming them.
        """
        info = self.get(kind, name)
        options = dict(options or {})
        info.check_options(options, where, key)
        try:
            return info.factory(*args, **options)
        except ItrBenchError as exc:
            message = str(exc)
            if info.plugin not in message:
                message = f"{info.label}: {message}"
            if where and not message.startswith(where):
                message = f"{where}: {message}"
            if message == str(exc):
                raise
            error = type(exc).__new__(type(exc))
            error.args = (message, *exc.args[1:])
            error.__dict__.update(exc.__dict__)
            raise error.with_traceback(exc.__traceback__) from exc.__cause__
        except Exception as exc:
            exc.add_note(f"while building {info.label}{f' for {where}' if where else ''}")
            raise

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
