"""Finding plugins and turning their hooks into a :class:`~itr_bench.registry.Registry`.

Nothing happens at import time: :func:`get_plugin_manager` builds a fresh manager each call
and :func:`load_registry` calls the ``register_*`` hooks on demand.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pluggy

from . import hookspecs
from .errors import ItrBenchError, PluginError, did_you_mean
from .registry import ComponentInfo, Registry

#: Entry-point group third-party plugins declare themselves in.
ENTRY_POINT_GROUP = "itr_bench"

#: Built-in plugins, imported by module path. They are ordinary plugins: each could be a
#: separate distribution with an entry point; they are listed here so that they load even
#: when entry-point loading is restricted or off.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "itr_bench_losses",
    "itr_bench_datasets",
    "itr_bench_dualpath",
    "itr_bench_backbones",
    "itr_bench_trackers",
)

#: ``ITR_BENCH_LOAD_PLUGINS=a,b`` loads only these third-party plugins (entry-point or
#: distribution names); an empty value loads none. Built-ins always load.
LOAD_PLUGINS_ENV = "ITR_BENCH_LOAD_PLUGINS"
#: ``ITR_BENCH_TRACE_PLUGINS=1`` prints every hook call to stderr.
TRACE_PLUGINS_ENV = "ITR_BENCH_TRACE_PLUGINS"

#: hook name -> component kind it fills.
REGISTER_HOOKS: Mapping[str, str] = {
    "register_image_encoders": "image_encoder",
    "register_text_encoders": "text_encoder",
    "register_losses": "loss",
    "register_negative_samplers": "negative_sampler",
    "register_datasets": "dataset",
    "register_suites": "suite",
    "register_trackers": "tracker",
}


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus the distribution each entry-point plugin came from."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.distributions: dict[str, importlib.metadata.Distribution] = {}
        self.builtin_names: set[str] = set()


def get_plugin_manager(
    *,
    load_entrypoints: bool = True,
    builtins: Iterable[str] = DEFAULT_PLUGINS,
    environ: Mapping[str, str] | None = None,
) -> PluginManager:
    """A new manager with the hook specs, third-party plugins and the built-ins registered.

    Raises :class:`PluginError` naming the plugin when one cannot be imported, declares a hook
    with wrong arguments, or implements a hook that does not exist (``check_pending``).
    """
    environ = os.environ if environ is None else environ
    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    for module_name in builtins:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise PluginError(f"built-in plugin {module_name!r} could not be imported: {exc}") from exc
        _register(pm, module, module_name)
        pm.builtin_names.add(module_name)
    if load_entrypoints:
        _load_entrypoints(pm, _allowed(environ.get(LOAD_PLUGINS_ENV)))
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(_validation_message(pm, exc)) from exc
    if environ.get(TRACE_PLUGINS_ENV):
        pm.trace.root.setwriter(lambda message: print(message, end="", file=sys.stderr))
        pm.enable_tracing()
    return pm


def _allowed(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _load_entrypoints(pm: PluginManager, allowed: set[str] | None) -> None:
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group != ENTRY_POINT_GROUP or pm.get_plugin(ep.name) is not None:
                continue
            if allowed is not None and ep.name not in allowed and dist.metadata["name"] not in allowed:
                continue
            where = f"plugin {ep.name!r} (entry point {ep.value!r} of {dist.metadata['name']} {dist.version})"
            try:
                plugin = ep.load()
            except Exception as exc:  # any import failure of third-party code
                raise PluginError(f"{where} could not be imported: {type(exc).__name__}: {exc}") from exc
            except SystemExit as exc:  # sys.exit() at import would end every command silently
                raise PluginError(f"{where} exited with code {exc.code} while loading; "
                                  f"uninstall it or leave it out with ${LOAD_PLUGINS_ENV}") from None
            _register(pm, plugin, ep.name, where)
            pm.distributions[ep.name] = dist


def _register(pm: PluginManager, plugin: object, name: str, where: str | None = None) -> None:
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(_validation_message(pm, exc, where)) from exc
    except ValueError as exc:  # pluggy: name or object already registered
        raise PluginError(f"{where or f'plugin {name!r}'} could not be registered: {exc}") from exc


def _validation_message(pm: PluginManager, exc: pluggy.PluginValidationError, where: str | None = None) -> str:
    """One line naming the plugin and what is wrong with its hooks."""
    if where is None:
        name = pm.get_name(exc.plugin) if pm.is_registered(exc.plugin) else getattr(exc.plugin, "__name__", "?")
        where = f"plugin {name!r}"
    unknown = re.search(r"unknown hook '(\w+)'", str(exc))
    if unknown:
        hook = unknown.group(1)
        return f"{where} implements unknown hook {hook!r}: {did_you_mean(hook, _hook_names())}"
    return f"{where}: " + " ".join(str(exc).split())


def _hook_names() -> list[str]:
    return sorted(name for name in dir(hookspecs) if name.startswith("register_"))


def call_each(
    pm: PluginManager, hook_name: str, kwargs_for: Callable[[str], dict[str, Any]]
) -> list[tuple[str, list[Any]]]:
    """Call one hook plugin by plugin, through pluggy, naming the plugin on failure.

    Each plugin's implementation is called through its own :meth:`pluggy.PluginManager.subset_hook_caller`
    (every other implementing plugin removed) with ``kwargs_for(plugin_name)``, so every component
    remembers its owner while pluggy still does the calling: the plugins come in pluggy's order
    (``tryfirst`` first, ``trylast`` last, otherwise the most recently registered first), the hook
    wrappers of plugins that only wrap run around each plugin's call, and ``ITR_BENCH_TRACE_PLUGINS``
    traces every call. A plugin that both implements and wraps the same hook wraps only its own call.

    Returns ``(plugin name, results)`` per plugin, as the hook wrappers left the results.
    """
    caller = getattr(pm.hook, hook_name)
    impls = caller.get_hookimpls()
    owners = list(dict.fromkeys(impl.plugin for impl in reversed(impls) if not (impl.wrapper or impl.hookwrapper)))
    out = []
    for owner in owners:
        name = pm.get_name(owner) or "?"
        subset = pm.subset_hook_caller(hook_name, remove_plugins=[other for other in owners if other is not owner])
        try:
            out.append((name, subset(**kwargs_for(name))))
        except ItrBenchError:
            raise
        except Exception as exc:
            culprit = _raised_by(exc, subset.get_hookimpls()) or name
            raise PluginError(f"plugin {culprit!r} failed in {hook_name}: {type(exc).__name__}: {exc}") from exc
    return out


def _raised_by(exc: BaseException, impls: Iterable[pluggy.HookImpl]) -> str | None:
    """The plugin whose implementation (a wrapper or the called one) the exception came out of.

    The innermost frame of the traceback that runs one of ``impls`` is where it was raised (or
    what raised it was called from); a wrapper that fails is named, not the plugin it wrapped.
    """
    codes = {getattr(impl.function, "__code__", None): impl.plugin_name for impl in impls}
    culprit, tb = None, exc.__traceback__
    while tb is not None:
        culprit = codes.get(tb.tb_frame.f_code, culprit)
        tb = tb.tb_next
    return culprit


def load_registry(pm: PluginManager) -> Registry:
    """Call every ``register_*`` hook and collect what the plugins register, with their owners."""
    registry = Registry(REGISTER_HOOKS.values())
    for hook_name, kind in REGISTER_HOOKS.items():
        call_each(pm, hook_name, lambda owner, kind=kind: {"register": Registrar(registry, kind, owner)})
    return registry


class Registrar:
    """The ``register`` callback one plugin's ``register_*`` hook gets: it files components under that plugin.

    A hook wrapper sees whose call it wraps (``register.plugin``) and what that call registered
    (``register.registered``); traces show it as ``<register loss for plugin 'name'>``.
    """

    def __init__(self, registry: Registry, kind: str, plugin: str) -> None:
        self._registry, self.kind, self.plugin = registry, kind, plugin
        self.registered: list[ComponentInfo] = []

    def __call__(self, name: str, factory: Callable[..., Any], *, description: str | None = None,
                 **metadata: Any) -> ComponentInfo:
        info = self._registry.register(self.kind, name, factory, plugin=self.plugin, description=description,
                                       **metadata)
        self.registered.append(info)
        return info

    def __repr__(self) -> str:
        return f"<register {self.kind} for plugin {self.plugin!r}>"


@dataclass(frozen=True)
class PluginInfo:
    """What ``itr-bench plugins`` shows about one plugin."""

    name: str
    hooks: tuple[str, ...]
    version: str | None
    distribution: str | None
    builtin: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "hooks": list(self.hooks),
            "version": self.version,
            "distribution": self.distribution,
            "builtin": self.builtin,
        }


def plugin_infos(pm: PluginManager) -> list[PluginInfo]:
    """Every registered plugin with its hooks, sorted by name."""
    from . import __version__

    infos = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # a blocked name
            continue
        callers = pm.get_hookcallers(plugin) or []
        dist = pm.distributions.get(name)
        builtin = name in pm.builtin_names
        infos.append(
            PluginInfo(
                name=name,
                hooks=tuple(sorted(caller.name for caller in callers)),
                version=dist.version if dist else (__version__ if builtin else None),
                distribution=dist.metadata["name"] if dist else ("itr-bench" if builtin else None),
                builtin=builtin,
            )
        )
    return sorted(infos, key=lambda info: info.name)
