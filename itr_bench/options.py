"""Declared component options: name, type, default and a one-line help each.

A component's options are its factory's keyword parameters: the annotation is the type, the
default is the default, and the help comes from the docstring's ``Args:`` section (or a string
in ``typing.Annotated[...]``). Ranges are ``annotated_types`` markers in ``Annotated``::

    class CircleLoss(Loss):
        \"\"\"Circle loss on the cross-modal cosine similarity matrix.

        Args:
            margin: relaxation m of the decision boundary.
            gamma: scale of the logits.
        \"\"\"

        def __init__(self, context, margin: Annotated[float, Ge(0)] = 0.25, gamma: float = 64.0): ...

Where ``itr-bench tune`` searches is declared in the same place, with a :class:`Search` marker::

        temperature: Annotated[float, Gt(0), Search(0.01, 0.5, log=True)] = 0.07

The signature is read from the source file when the factory is registered as a lazy
``"module:attr"`` reference (:func:`read_source`), so listing and checking options imports neither
the component's module nor torch; a factory given as an object is read with :mod:`inspect`.
Both give the same :class:`Options`.
"""

from __future__ import annotations

import ast
import collections.abc
import functools
import importlib.util
import inspect
import math
import os
import pathlib
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import annotated_types

from .errors import ConfigError, did_you_mean


class _Missing:
    def __repr__(self) -> str:
        return "<required>"


#: The default of an option that has none (it must be given).
REQUIRED: Any = _Missing()


@dataclass(frozen=True)
class Expression:
    """A default written as an expression the source reader cannot evaluate (shown as written)."""

    text: str

    def __repr__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Search:
    """The range ``itr-bench tune`` searches for an option, declared beside its type and limits.

    ``Search(low, high)`` draws uniformly from [low, high] (integers for an ``int`` option),
    ``log=True`` log-uniformly (both bounds must be > 0); ``Search(choices=(...))`` picks one of
    the values (a ``bool`` or ``Literal`` option). It never widens what the option accepts: a
    range outside the declared limits is refused by :meth:`problem`, before any training.
    """

    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    @property
    def categorical(self) -> bool:
        return bool(self.choices)

    def problem(self, option: "Option") -> str | None:
        """Why this range cannot be searched for ``option`` (a bound outside its declared limits, a
        log range with a bound <= 0, low >= high, a choice of the wrong type), or None."""
        if self.choices:
            if self.low is not None or self.high is not None:
                return "search: give either low/high or choices, not both"
            bad = next((c for c in self.choices if option.problem(c) is not None), None)
            return None if bad is None else f"search choice {bad!r}: {option.problem(bad)}"
        numbers = (self.low, self.high)
        if any(not isinstance(n, (int, float)) or isinstance(n, bool) or not math.isfinite(n) for n in numbers):
            return f"search: low and high must be finite numbers, got {self.low!r}, {self.high!r}"
        if not self.low < self.high:  # type: ignore[operator]
            return f"search: low {self.low!r} must be below high {self.high!r}"
        if self.log and self.low <= 0:  # type: ignore[operator]
            return f"search: a log range needs bounds > 0, got low {self.low!r}"
        for end in numbers:
            value = int(end) if _base(option.type) is int and float(end).is_integer() else end
            problem = option.problem(value)
            if problem is not None:
                return f"search bound {end!r} is outside the option's declared range: {problem}"
        return None

    def __str__(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        return f"[{self.low:g}, {self.high:g}]{' log' if self.log else ''}"


@dataclass(frozen=True)
class Option:
    """One option of a component."""

    name: str
    #: The annotation as written (``"float | None"``); empty when there is none.
    annotation: str = ""
    default: Any = REQUIRED
    help: str = ""
    #: The annotation evaluated (``typing.Any`` when absent or not understood): what values must match.
    type: Any = field(default=Any, compare=False, repr=False)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def search(self) -> Search | None:
        """The declared :class:`Search` range (``Annotated[..., Search(...)]``), or None."""
        return search_of(self.type)

    @property
    def type_text(self) -> str:
        """The type as users read it: ``float >= 0`` for ``Annotated[float, Ge(0)]``, ``int >= 1 | None``,
        ``Sequence[int >= 1]``; the annotation as written when it could not be evaluated."""
        return self.annotation if self.type is Any else type_text(self.type)

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable for this option (``blocks[1]: ...`` for an item), or None."""
        found = value_problem(value, self.type, self.annotation)
        if found is None:
            return None
        inside, why = found
        return f"{self.name}{inside}: {why}" if inside else why

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly: name, type, default (``null`` and ``required`` true when there is none), help."""
        default = None if self.required else self.default
        if isinstance(default, Expression):
            default = default.text
        elif isinstance(default, tuple):
            default = list(default)
        elif not isinstance(default, (str, int, float, bool, list, dict, type(None))):
            default = repr(default)
        return {"name": self.name, "type": self.type_text, "default": default, "required": self.required,
                "help": self.help, "search": None if self.search is None else str(self.search)}


@dataclass(frozen=True)
class Options:
    """Every option a factory declares; ``open`` when it also takes ``**kwargs`` (other keys pass)."""

    options: tuple[Option, ...] = ()
    open: bool = False

    def __iter__(self):
        return iter(self.options)

    def __len__(self) -> int:
        return len(self.options)

    def names(self) -> list[str]:
        return [option.name for option in self.options]

    def get(self, name: str) -> Option | None:
        return next((option for option in self.options if option.name == name), None)

    def check(self, values: Mapping[str, Any], what: str, where: str, key: str) -> None:
        """Raise one :class:`ConfigError` line for the first unknown, mistyped or out-of-range option.

        ``what`` names the component (``loss 'ranking' (plugin 'x')``), ``where`` the file and
        ``key`` the table the values came from (``runs[1].loss_options.ranking``).
        """
        prefix = f"{where}: " if where else ""
        for name, value in values.items():
            option = self.get(name)
            at = f"{prefix}{key}{' ' if key.startswith('-') else '.'}{name}" if key else f"{prefix}{name}"  # -o NAME
            if option is None:
                if self.open:
                    continue
                names = self.names()
                hint = did_you_mean(name, names) if names else "it takes none"
                raise ConfigError(f"{at}: {what} takes no option {name!r}, {hint}")
            found = value_problem(value, option.type, option.annotation)
            if found is not None:
                raise ConfigError(f"{at}{found[0]}: {what}: {found[1]}")
        missing = [option.name for option in self.options if option.required and option.name not in values]
        if missing:
            raise ConfigError(f"{prefix}{key or 'options'}: {what} needs option {missing[0]!r} ({_help(self, missing[0])})")


def _help(options: Options, name: str) -> str:
    option = options.get(name)
    return option.help or option.annotation or "no help" if option else ""


# ============================================================================================
# Reading a signature
# ============================================================================================


def from_callable(factory: Callable[..., Any], skip: int) -> Options:
    """The options of ``factory``: its parameters after the first ``skip`` positional ones."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin or an object without a readable signature
        return Options(open=True)
    target = factory.func if isinstance(factory, functools.partial) else factory
    helps = docstring_help(_docstrings(target))
    namespace = dict(vars(inspect.getmodule(target) or types.ModuleType("?")))
    options, is_open, skipped = [], False, 0
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            is_open = True
            continue
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        if skipped < skip and parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
            skipped += 1
            continue
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
            continue
        annotation = parameter.annotation
        if annotation is inspect.Parameter.empty:
            text, kind = "", Any
        elif isinstance(annotation, str):
            text, kind = annotation, evaluate(annotation, namespace)
        else:
            text, kind = _format(annotation), annotation
        default = REQUIRED if parameter.default is inspect.Parameter.empty else parameter.default
        options.append(Option(parameter.name, text, default, helps.get(parameter.name) or annotated_help(kind), kind))
    return Options(tuple(options), is_open)


def _docstrings(target: Any) -> list[str]:
    docs = [inspect.getdoc(target) or ""]
    init = getattr(target, "__init__", None) if isinstance(target, type) else None
    if init is not None and "__init__" in vars(target):
        docs.append(inspect.getdoc(init) or "")
    return docs


def read_source(reference: str, skip: int) -> tuple[Options, str] | None:
    """Options and docstring of ``"module:qualname"`` read from its source file, without importing it.

    Only the module's parent packages are imported (to find the file). None when the source
    cannot be read that way (no ``.py`` file, the name is not a plain ``def``/``class`` there, or
    a class without its own ``__init__``); the caller then imports the factory.
    """
    module, _, qualname = reference.partition(":")
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    origin = getattr(spec, "origin", None)
    if not origin or not origin.endswith(".py"):
        return None
    try:
        tree, constants = _parse(origin, os.stat(origin).st_mtime_ns, module)
    except (OSError, SyntaxError, ValueError):
        return None
    node = _definition(tree, qualname)
    if node is None:
        return None
    docs = [ast.get_docstring(node) or ""]
    function = node
    if isinstance(node, ast.ClassDef):
        function = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        if function is None:  # inherited: only the imported class knows its signature
            return None
        docs.append(ast.get_docstring(function) or "")
        skip += 1  # self
    helps = docstring_help(docs)
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    defaults = [REQUIRED] * (len(positional) - len(args.defaults)) + list(args.defaults)
    pairs = list(zip(positional, defaults))[skip:]
    pairs = [(a, d) for a, d in pairs if a not in args.posonlyargs]
    pairs += list(zip(args.kwonlyargs, [d if d is not None else REQUIRED for d in args.kw_defaults]))
    options = []
    for arg, default in pairs:
        text = ast.unparse(arg.annotation) if arg.annotation is not None else ""
        if text[:1] in "'\"":  # an annotation written as a string literal
            text = ast.literal_eval(text)
        kind = evaluate(text, {}) if text else Any
        value = default if default is REQUIRED else _default(default, constants)
        options.append(Option(arg.arg, text, value, helps.get(arg.arg) or annotated_help(kind), kind))
    return Options(tuple(options), args.kwarg is not None), "\n\n".join(d for d in docs if d)


_DEFS = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _definition(tree: ast.Module, qualname: str) -> Any:
    """The class or function ``qualname`` (dotted, e.g. ``Outer.Inner``) defined in ``tree``; None if absent."""
    node: Any = tree
    for part in qualname.split("."):
        node = next((n for n in getattr(node, "body", []) if isinstance(n, _DEFS) and n.name == part), None)
        if node is None:
            return None
    return node


def read_class_body(reference: str) -> tuple[list[str], dict[str, ast.expr | None]] | None:
    """The base names and the class-level assignments (name -> value expression, None for a
    ``def`` of that name) of class ``"module:Class"``, read from its source without importing it;
    None when it is not a plain class of a ``.py`` file."""
    module, _, qualname = reference.partition(":")
    try:
        spec = importlib.util.find_spec(module)
        origin = getattr(spec, "origin", None)
        if not origin or not origin.endswith(".py"):
            return None
        tree, _ = _parse(origin, os.stat(origin).st_mtime_ns, module)
    except (ImportError, ValueError, OSError, SyntaxError):
        return None
    node = _definition(tree, qualname)
    if node is None:
        return None
    if not isinstance(node, ast.ClassDef):
        return None
    values: dict[str, ast.expr | None] = {}
    for item in node.body:
        if isinstance(item, ast.Assign) and len(item.targets) == 1 and isinstance(item.targets[0], ast.Name):
            values[item.targets[0].id] = item.value
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.value is not None:
            values[item.target.id] = item.value
        elif isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            values[item.name] = None
    return [ast.unparse(base) for base in node.bases], values


@functools.lru_cache(maxsize=64)
def _parse(path: str, mtime: int, module: str, depth: int = 1) -> tuple[ast.Module, dict[str, Any]]:
    """The module's syntax tree and its literal module-level constants (``PAPER_MARGIN = 1.0``),
    also those it imports by name from another module's constants (``from .textcnn import WORD_DIM``)."""
    tree = ast.parse(pathlib.Path(path).read_text(encoding="utf-8"), filename=path)
    constants: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and depth > 0:
            constants.update(_imported_constants(node, module, path, depth))
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if len(targets) == 1 and isinstance(targets[0], ast.Name) and getattr(node, "value", None) is not None:
            try:
                constants[targets[0].id] = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                pass
    return tree, constants


def _imported_constants(node: ast.ImportFrom, module: str, path: str, depth: int) -> dict[str, Any]:
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    try:
        source = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
        spec = importlib.util.find_spec(source)
        origin = getattr(spec, "origin", None)
        if not origin or not origin.endswith(".py"):
            return {}
        _, theirs = _parse(origin, os.stat(origin).st_mtime_ns, source, depth - 1)
    except (ImportError, ValueError, OSError, SyntaxError):
        return {}
    return {alias.asname or alias.name: theirs[alias.name] for alias in node.names if alias.name in theirs}


def _default(node: ast.expr, constants: Mapping[str, Any]) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    return Expression(ast.unparse(node))


# ============================================================================================
# Help from docstrings
# ============================================================================================

_SECTION = re.compile(r"^(\s*)(Args|Arguments|Options|Parameters|Keyword Args|Keyword Arguments):\s*$")
_ENTRY = re.compile(r"^(\s*)(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_PARAM = re.compile(r"^\s*:param\s+(?:[^:]*\s)?(\w+):\s*(.*)$")


def docstring_help(docs: list[str]) -> dict[str, str]:
    """Option name -> one line of help from Google-style ``Args:`` sections or ``:param x:`` lines."""
    helps: dict[str, str] = {}
    for doc in docs:
        lines = (doc or "").expandtabs().splitlines()
        section_indent: int | None = None
        current: str | None = None
        entry_indent = 0
        for line in lines:
            if not line.strip():
                continue
            indent = len(line) - len(line.lstrip())
            header = _SECTION.match(line)
            if header:
                section_indent, current = len(header.group(1)), None
                continue
            param = _PARAM.match(line)
            if param:
                current, entry_indent = param.group(1), indent
                helps[current] = param.group(2).strip()
                section_indent = None
                continue
            if section_indent is not None and indent <= section_indent:
                section_indent, current = None, None
                continue
            entry = _ENTRY.match(line) if section_indent is not None else None
            if entry and (current is None or indent <= entry_indent):
                current, entry_indent = entry.group(2).lstrip("*"), indent
                helps[current] = entry.group(3).strip()
            elif current is not None and indent > entry_indent:
                helps[current] = f"{helps[current]} {line.strip()}".strip()
            else:
                current = None
    return helps


def annotated_help(kind: Any) -> str:
    """The first string in ``Annotated[T, "help", ...]``, else empty."""
    if typing.get_origin(kind) is typing.Annotated:
        return next((m for m in kind.__metadata__ if isinstance(m, str)), "")
    return ""


# ============================================================================================
# Types
# ============================================================================================


class _Names(dict):
    """Names an annotation may use; anything else (a class of the plugin, ``torch.Tensor``) is Any."""

    def __missing__(self, key: str) -> Any:
        return Any


_KNOWN: dict[str, Any] = {
    **{name: getattr(typing, name) for name in ("Any", "Annotated", "Literal", "Optional", "Union")},
    **{name: getattr(collections.abc, name) for name in ("Sequence", "Mapping", "MutableSequence", "Iterable",
                                                         "Collection", "MutableMapping")},
    **{name: getattr(annotated_types, name) for name in ("Gt", "Ge", "Lt", "Le", "Interval")},
    "Search": Search,
    "int": int, "float": float, "str": str, "bool": bool, "list": list, "tuple": tuple, "dict": dict,
    "None": None, "Path": pathlib.Path, "PathLike": os.PathLike, "bytes": bytes,
    "typing": typing, "pathlib": pathlib, "os": os, "annotated_types": annotated_types,
}


def evaluate(annotation: str, namespace: Mapping[str, Any]) -> Any:
    """``annotation`` as a typing object, using ``namespace`` (the module's globals) over the known names."""
    names = _Names(_KNOWN)
    names.update({k: v for k, v in namespace.items() if not k.startswith("__")})
    try:
        return eval(annotation, {"__builtins__": {}}, names)  # noqa: S307 - an annotation, names restricted
    except Exception:  # noqa: BLE001 - an annotation we cannot evaluate checks nothing
        return Any


def conforms(value: Any, kind: Any) -> bool:
    """Whether ``value`` (from TOML or the command line) is an instance of the annotation ``kind``."""
    if kind is Any or kind is object or isinstance(kind, (str, typing.TypeVar)):
        return True
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Annotated:
        return conforms(value, args[0])
    if kind is None or kind is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, arg) for arg in args)
    if origin is typing.Literal:
        return any(value == arg and type(value) is type(arg) for arg in args)
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str)
    if kind in (pathlib.Path, pathlib.PurePath, os.PathLike):
        return isinstance(value, (str, os.PathLike))
    container = origin or kind
    if container in (list, tuple, collections.abc.Sequence, collections.abc.MutableSequence,
                     collections.abc.Iterable, collections.abc.Collection):
        if not isinstance(value, (list, tuple)):
            return False
        if not args:
            return True
        if container is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            return len(value) == len(args) and all(conforms(v, a) for v, a in zip(value, args))
        return all(conforms(v, args[0]) for v in value)
    if container in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
        return isinstance(value, Mapping)
    if isinstance(kind, type):
        return isinstance(value, kind)
    return True


# ============================================================================================
# The one checker: component options, run config fields and record fields
# ============================================================================================

_SEQUENCES = (list, tuple, collections.abc.Sequence, collections.abc.MutableSequence, collections.abc.Iterable,
              collections.abc.Collection)
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


@dataclass(frozen=True)
class Table:
    """A declaration for a table whose keys are declared one by one (a record's metrics: each its
    own bounds); a key not in ``keys`` takes ``other``."""

    keys: Mapping[str, Any]
    other: Any = Any


#: How a value outside its limits is said: ``(value, bounds, integer) -> why``.
SayLimits = Callable[[Any, list, bool], str]


def say_limits(value: Any, bounds: list[Any], integer: bool) -> str:
    """The checker's own words: ``must be a finite number, got nan``, ``must be positive, got 0``."""
    if not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    return f"must be {limits_text(bounds, integer)}, got {value!r}"


def value_problem(value: Any, kind: Any, annotation: str = "", *, say: SayLimits = say_limits
                  ) -> tuple[str, str] | None:
    """Why ``value`` does not fit the declaration ``kind``, or None.

    The declaration is an ordinary annotation: a type, ``Literal[...]``, ``X | None``, a list or
    table of those (or a :class:`Table` of per-key declarations), with ``annotated_types``
    limits in ``Annotated[...]`` at any level (``dict[str, Annotated[float, Ge(0)]]``). The
    answer is ``(inside, why)``: ``inside`` locates the offending item (``""``, ``"[1]"``,
    ``".image"``) so the caller's message names its key; ``why`` reads ``expected an integer, got
    'big' (a string)`` or ``must be positive, got 0``. ``annotation`` is the type as written,
    shown when ``kind`` could not be evaluated; ``say`` words a value outside its limits (a
    record's reader says it is impossible).
    """
    return _problem(value, kind, annotation, "", say)


def _problem(value: Any, kind: Any, annotation: str, inside: str, say: SayLimits) -> tuple[str, str] | None:
    if kind is Any or kind is object or isinstance(kind, (str, typing.TypeVar)):
        return None
    if isinstance(kind, Table):
        if not isinstance(value, Mapping):
            return inside, _mismatch(value, dict, annotation)
        return next((p for key, item in value.items()
                     if (p := _problem(item, kind.keys.get(key, kind.other), "", f"{inside}.{key}", say))
                     is not None), None)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Annotated:
        return (_problem(value, args[0], annotation, inside, say)
                or _limits_problem(value, constraints(kind), _base(args[0]) is int, inside, say))
    if origin in (typing.Union, types.UnionType):
        found = [_problem(value, arm, "", inside, say) for arm in args]
        if any(problem is None for problem in found):
            return None
        shaped = [problem for arm, problem in zip(args, found) if _shaped(value, arm)]
        return shaped[0] if shaped else (inside, _mismatch(value, kind, annotation))  # the first arm it could be
    container = origin or kind
    if container in _SEQUENCES and not isinstance(value, str):
        if not isinstance(value, (list, tuple)):
            return inside, _mismatch(value, kind, annotation)
        if container is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                return inside, _mismatch(value, kind, annotation)
            items = list(zip(value, args))
        else:
            items = [(item, args[0] if args else Any) for item in value]
        return next((p for i, (item, arm) in enumerate(items)
                     if (p := _problem(item, arm, "", f"{inside}[{i}]", say)) is not None), None)
    if container in _MAPPINGS:
        if not isinstance(value, Mapping):
            return inside, _mismatch(value, kind, annotation)
        arm = args[1] if len(args) == 2 else Any
        return next((p for key, item in value.items()
                     if (p := _problem(item, arm, "", f"{inside}.{key}", say)) is not None), None)
    if not conforms(value, kind):
        return inside, _mismatch(value, kind, annotation)
    return None


def _shaped(value: Any, kind: Any) -> bool:
    """Whether ``value`` has the outer shape of ``kind`` (so a problem inside it is the one to report)."""
    origin = typing.get_origin(kind)
    if origin is typing.Annotated:
        return _shaped(value, typing.get_args(kind)[0])
    container = origin or kind
    if container in _SEQUENCES:
        return isinstance(value, (list, tuple))
    if container in _MAPPINGS:
        return isinstance(value, Mapping)
    return conforms(value, kind)


def _limits_problem(value: Any, bounds: list[Any], integer: bool, inside: str, say: SayLimits
                    ) -> tuple[str, str] | None:
    if not bounds or not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    if math.isfinite(value) and all(_within(value, bound) for bound in bounds):
        return None
    return inside, say(value, bounds, integer)


def limits_text(bounds: list[Any], integer: bool = False) -> str:
    """How messages say the limits: ``positive``, ``zero or positive``, ``in [0, 1)``, ``<= 10``."""
    lower = [b for b in bounds if isinstance(b, (annotated_types.Gt, annotated_types.Ge))]
    upper = [b for b in bounds if isinstance(b, (annotated_types.Lt, annotated_types.Le))]
    if lower and upper:
        low, high = lower[-1], upper[-1]
        left = "(" if isinstance(low, annotated_types.Gt) else "["
        right = ")" if isinstance(high, annotated_types.Lt) else "]"
        return f"in {left}{_number(_limit(low))}, {_number(_limit(high))}{right}"
    if len(lower) == 1:
        low = lower[0]
        if isinstance(low, annotated_types.Gt) and _limit(low) == 0 or integer and _limit(low) == 1 and isinstance(
                low, annotated_types.Ge):
            return "positive"
        if isinstance(low, annotated_types.Ge) and _limit(low) == 0:
            return "zero or positive"
    return " and ".join(_bound_text(bound) for bound in bounds)


def type_text(kind: Any) -> str:
    """A declaration with its limits written beside each type (``float in [0, 1)``)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Annotated:
        bounds = constraints(kind)
        lower = any(isinstance(b, (annotated_types.Gt, annotated_types.Ge)) for b in bounds)
        upper = any(isinstance(b, (annotated_types.Lt, annotated_types.Le)) for b in bounds)
        limits = limits_text(bounds) if lower and upper else " ".join(_bound_text(b) for b in bounds)
        return f"{type_text(args[0])} {limits}".strip()
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_text(arg) for arg in args)
    if args and origin is not typing.Literal and isinstance(origin, type):
        return f"{origin.__name__}[{', '.join('...' if a is Ellipsis else type_text(a) for a in args)}]"
    if kind is None or kind is type(None):
        return "None"
    return kind.__name__ if isinstance(kind, type) else _format(kind)


def _limit(bound: Any) -> Any:
    return next(getattr(bound, name) for name in ("gt", "ge", "lt", "le") if hasattr(bound, name))


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _mismatch(value: Any, kind: Any, annotation: str = "") -> str:
    return f"expected {describe(kind, annotation)}, got {value!r} ({_kind(value)})"


_WORDS: dict[Any, tuple[str, str]] = {
    bool: ("true or false", "booleans"), int: ("an integer", "integers"), float: ("a number", "numbers"),
    str: ("a string", "strings"), pathlib.Path: ("a path", "paths"), os.PathLike: ("a path", "paths"),
    type(None): ("nothing", "nothing"), None: ("nothing", "nothing"),
}


def describe(kind: Any, annotation: str = "") -> str:
    """A declared type in words: ``an integer``, ``one of 'sum', 'mean'``, ``a list of integers``,
    ``a number or nothing``; the annotation as written when there are no words for it."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Annotated:
        return describe(args[0], annotation)
    if kind is Any:
        return annotation or "a value of the declared type"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(arg) for arg in args)
    if origin in (typing.Union, types.UnionType):
        literals = [v for a in args if typing.get_origin(a) is typing.Literal for v in typing.get_args(a)]
        rest = [describe(a) for a in args if typing.get_origin(a) is not typing.Literal]
        parts = (["one of " + ", ".join(map(repr, literals))] if literals else []) + list(dict.fromkeys(rest))
        return " or ".join(parts)
    if kind in _WORDS:
        return _WORDS[kind][0]
    container = origin or kind
    if container in _SEQUENCES:
        item = _base(args[0]) if args and not (container is tuple and len(args) != 2) else None
        if (typing.get_origin(item) or item) in _MAPPINGS:
            return "a list of tables"
        return f"a list of {_WORDS[item][1]}" if item in _WORDS else f"a list ({_format(kind)})"
    if container in _MAPPINGS:
        return "a table"
    return _format(kind)


def constraints(kind: Any) -> list[Any]:
    """The ``annotated_types`` bounds (Gt, Ge, Lt, Le) of ``Annotated[...]``, also inside ``X | None``."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return [bound for arg in args for bound in constraints(arg)]
    if origin is not typing.Annotated:
        return []
    bounds = []
    for marker in kind.__metadata__:
        if isinstance(marker, annotated_types.GroupedMetadata):
            bounds.extend(marker)
        elif isinstance(marker, annotated_types.BaseMetadata):
            bounds.append(marker)
    return [b for b in bounds if isinstance(b, (annotated_types.Gt, annotated_types.Ge, annotated_types.Lt,
                                                   annotated_types.Le))]


def search_of(kind: Any) -> Search | None:
    """The :class:`Search` marker of ``Annotated[...]`` (also inside ``X | None``), or None."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return next((found for arg in args if (found := search_of(arg)) is not None), None)
    if origin is not typing.Annotated:
        return None
    return next((marker for marker in kind.__metadata__ if isinstance(marker, Search)), None)


def _base(kind: Any) -> Any:
    """``float`` for ``Annotated[float, ...]`` (and ``float | None``): the type a value must be."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Annotated:
        return _base(args[0])
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        return _base(rest[0]) if len(rest) == 1 else kind
    return kind


def _within(value: float, bound: Any) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    if isinstance(bound, annotated_types.Gt):
        return value > bound.gt
    if isinstance(bound, annotated_types.Ge):
        return value >= bound.ge
    if isinstance(bound, annotated_types.Lt):
        return value < bound.lt
    return value <= bound.le


def _bound_text(bound: Any) -> str:
    for attribute, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
        if hasattr(bound, attribute):
            return f"{sign} {getattr(bound, attribute)}"
    return repr(bound)


def _format(annotation: Any) -> str:
    text = inspect.formatannotation(annotation).replace("typing.", "").replace("collections.abc.", "")
    return text.replace("NoneType", "None")


def _kind(value: Any) -> str:
    return {dict: "a table", list: "a list", tuple: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "nothing"}.get(type(value), type(value).__name__)
