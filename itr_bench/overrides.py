"""Command-line overrides of run-config keys: ``--set KEY=VALUE`` and ``--set-run RUN.KEY=VALUE``.

One parser for ``itr-bench run`` and ``itr-bench train``. A key is a dotted path into the run
config; a number indexes a list (``stages.0.epochs``). A value is read as TOML (``2``, ``0.05``,
``true``, ``"x"``, ``[1, 2]``, ``{backbone = "resnet18"}``); JSON, which older command lines
used for tables (``{"name": "x"}``), is accepted too; anything else is kept as a string, so
``--set device=cuda`` needs no quotes. A table value merges into the table key by key, like a
suite's layers do; a list value (``stages=[...]``) replaces the list.

Overrides are applied to each run's mapping after the suite's defaults, per-dataset tables and
the run's own keys (so they also reach runs made by ``each_loss``), and before the run config
is built and checked. Every problem they cause is one :class:`ConfigError` line that names the
flag and its value, not the suite file (:func:`blamed_on`). Since a run folder is reused only
under an equal config (:mod:`itr_bench.store.state`), an override plans a new run or a changed one,
never a stale one.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import json
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .config import RunConfig, StageConfig
from .errors import ConfigError, did_you_mean

RUN_KEYS = frozenset(f.name for f in dataclasses.fields(RunConfig))
STAGE_KEYS = frozenset(f.name for f in dataclasses.fields(StageConfig))
#: For ``itr-bench run``: keys a suite sets per cell, with the flag that sets them instead.
SUITE_FORBIDDEN = {"dataset": "the datasets come from --datasets", "seed": "the seeds come from --seeds",
                   "name": "a run's name is its [[runs]] entry's name"}
#: For ``itr-bench train``.
TRAIN_FORBIDDEN = {"seed": "use --seed"}
#: Suite-level words users try as run keys, with where they belong.
_FLAG_HINTS = {"seeds": "use --seeds", "datasets": "use --datasets"}


@dataclass(frozen=True)
class Override:
    """One ``KEY=VALUE`` of one flag; ``shown`` is how messages quote it."""

    flag: str
    text: str
    path: tuple[str, ...]
    value: Any

    @property
    def shown(self) -> str:
        return f"{self.flag} {self.text}"

    @property
    def key(self) -> str:
        """The key as config errors and the store spell it: ``stages[0].epochs``."""
        out = ""
        for part in self.path:
            out += f"[{part}]" if part.isdigit() and out else f".{part}" if out else part
        return out


@dataclass(frozen=True)
class Overrides:
    """The overrides of one command line: for every run, and for single runs by name."""

    every: tuple[Override, ...] = ()
    #: ``--set-run`` overrides, their path still starting with the run's name (resolved by :meth:`for_run`)
    per_run: tuple[Override, ...] = ()
    forbidden: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def parse(cls, sets: Iterable[str] = (), set_runs: Iterable[str] = (),
              forbidden: Mapping[str, str] = SUITE_FORBIDDEN) -> Overrides:
        every = tuple(_checked(parse_one("--set", text), forbidden) for text in sets)
        per_run = tuple(parse_one("--set-run", text) for text in set_runs)
        return cls(every, per_run, dict(forbidden))

    def __bool__(self) -> bool:
        return bool(self.every or self.per_run)

    def check_runs(self, names: Iterable[str]) -> None:
        """Every ``--set-run`` names a run of ``names`` and a valid key; else one line with did-you-mean."""
        names = list(names)
        for override in self.per_run:
            if _run_of(override, names) is None:
                raise ConfigError(f"{override.shown}: the suite has no run {override.path[0]!r}, "
                                  f"{did_you_mean(override.path[0], names)} (write --set-run RUN.KEY=VALUE)")
            self._resolved(override, names)

    def for_run(self, name: str, names: Iterable[str]) -> list[Override]:
        """The overrides of run ``name``, in order: every ``--set``, then its own ``--set-run``."""
        names = list(names)
        own = [self._resolved(o, names) for o in self.per_run if _run_of(o, names) == name]
        return [*self.every, *own]

    def _resolved(self, override: Override, names: list[str]) -> Override:
        run = _run_of(override, names)
        rest = override.path[len(run.split(".")):]
        if not rest:
            raise ConfigError(f"{override.shown}: no key after the run name (write --set-run RUN.KEY=VALUE)")
        return _checked(dataclasses.replace(override, path=rest), self.forbidden)


def parse_one(flag: str, text: str) -> Override:
    """``KEY=VALUE`` as an :class:`Override`; a malformed one is one line naming the flag."""
    key, equals, raw = text.partition("=")
    key = key.strip()
    if not equals or not key:
        raise ConfigError(f"{flag} {text}: expected KEY=VALUE, e.g. {flag} "
                          f"{'RUN.' if flag == '--set-run' else ''}stages.0.epochs=2")
    path = tuple(part.strip() for part in key.split("."))
    if not all(path):
        raise ConfigError(f"{flag} {text}: {key!r} has an empty part between dots")
    return Override(flag, text, path, parse_value(raw, f"{flag} {text}"))


def parse_value(text: str, shown: str = "value") -> Any:
    """A TOML value, else JSON, else the text itself; a broken table, list or quoted string is an error."""
    try:
        document = tomllib.loads(f"value = {text}")
    except tomllib.TOMLDecodeError as exc:
        problem = re.sub(r"\s*\(at (line \d+, )?column \d+\)|\s*\(at end of document\)", "", str(exc))
    else:
        if set(document) != {"value"}:
            raise ConfigError(f"{shown}: not one TOML value")
        value = document["value"]
        return text.strip() if isinstance(value, (datetime.date, datetime.time)) else value
    try:
        return json.loads(text)
    except ValueError:
        pass
    if text.strip()[:1] in ("{", "[", '"', "'"):
        raise ConfigError(f"{shown}: not a valid TOML value ({problem}); strings inside tables and lists "
                          "are quoted, e.g. {backbone = \"resnet18\"}")
    return text


def _run_of(override: Override, names: list[str]) -> str | None:
    """The longest run name the ``--set-run`` path starts with (run names may hold dots)."""
    dotted = ".".join(override.path)
    matches = [name for name in names if dotted.startswith(name + ".") or dotted == name]
    return max(matches, key=len) if matches else None


def checked(override: Override, forbidden: Mapping[str, str] = SUITE_FORBIDDEN) -> Override:
    """``override`` with its path checked and normalised as the flags' are (for keys that come from
    elsewhere, e.g. a suite's ``[tune]`` search space); a bad key is one line naming ``override.shown``."""
    return _checked(override, forbidden)


def _checked(override: Override, forbidden: Mapping[str, str]) -> Override:
    """The path names run-config keys (``-`` read as ``_``), indexes stages by number, never a forbidden key."""
    first = _field(override.path[0], RUN_KEYS)
    if first in forbidden:
        raise ConfigError(f"{override.shown}: {first!r} cannot be overridden: {forbidden[first]}")
    if first not in RUN_KEYS:
        allowed = RUN_KEYS - set(forbidden)
        if first in _FLAG_HINTS:
            hint = _FLAG_HINTS[first]
        elif first in STAGE_KEYS:
            hint = (f"it is a stage key: write stages.N.{first} (N counts from 0), "
                    f"e.g. {override.flag} stages.0.{first}={override.text.partition('=')[2]}")
        else:
            hint = did_you_mean(first, allowed)
        raise ConfigError(f"{override.shown}: {first!r} is not a run-config key, {hint}")
    path = (first, *override.path[1:])
    if first == "stages" and len(path) > 1:
        if not path[1].isdigit():
            raise ConfigError(f"{override.shown}: stages is a list: index it by number, e.g. stages.0.epochs")
        if len(path) > 2:
            stage_key = _field(path[2], STAGE_KEYS)
            if stage_key not in STAGE_KEYS:
                raise ConfigError(f"{override.shown}: {stage_key!r} is not a stage key, "
                                  f"{did_you_mean(stage_key, STAGE_KEYS)}")
            path = (*path[:2], stage_key, *path[3:])
    return dataclasses.replace(override, path=path)


def _field(part: str, fields: frozenset[str]) -> str:
    return part.replace("-", "_") if part not in fields and part.replace("-", "_") in fields else part


# ============================================================================================
# Applying
# ============================================================================================


def apply(data: Mapping[str, Any], overrides: Iterable[Override], context: str) -> tuple[dict[str, Any], list[str]]:
    """``data`` with ``overrides`` applied in order (a copy), and notes on what else changed.

    ``context`` names the run in messages (``the suite's run 'ranking-only'``). A stage shortened
    by ``stages.N.epochs`` loses the ``lr_steps`` at or past its new end (they would never fire:
    the shortened stage follows the same schedule up to its end), unless an override sets that
    stage's ``lr_steps`` too; each such change is a note.
    """
    out = copy.deepcopy(dict(data))
    overrides = list(overrides)
    for override in overrides:
        _set(out, override, context)
    notes = []
    for override in overrides:
        if len(override.path) == 3 and override.path[0] == "stages" and override.path[2] == "epochs":
            index = int(override.path[1])
            if any(o.path[:3] == ("stages", str(index), "lr_steps") for o in overrides):
                continue
            stage = out["stages"][index]
            epochs, steps = stage.get("epochs"), stage.get("lr_steps")
            if isinstance(epochs, int) and epochs >= 1 and isinstance(steps, list):
                kept = [step for step in steps if not (isinstance(step, int) and step >= epochs)]
                if kept != steps:
                    stage["lr_steps"] = kept
                    notes.append(f"{override.shown}: {context}: stages[{index}].lr_steps {steps} -> {kept} "
                                 "(steps at or past the stage's end never fire)")
    return out, notes


def _set(data: dict[str, Any], override: Override, context: str) -> None:
    node: Any = data
    *parents, last = override.path
    for depth, part in enumerate(parents):
        here = override.path[:depth + 1]
        if isinstance(node, list):
            node = node[_index(node, part, override, here, context)]
            continue
        if not isinstance(node, dict):
            raise _not_a_table(override, here[:-1], node, context)
        if node.get(part) is None:
            if override.path[depth + 1].isdigit():
                raise ConfigError(f"{override.shown}: {context} has no {'.'.join(here)}")
            node[part] = {}
        node = node[part]
    if isinstance(node, list):
        node[_index(node, last, override, override.path, context)] = copy.deepcopy(override.value)
    elif not isinstance(node, dict):
        raise _not_a_table(override, override.path[:-1], node, context)
    elif isinstance(override.value, Mapping) and isinstance(node.get(last), Mapping):
        node[last] = merge_tables(node[last], override.value)
    else:
        node[last] = copy.deepcopy(override.value)


def _index(items: list[Any], part: str, override: Override, here: tuple[str, ...], context: str) -> int:
    where = ".".join(here[:-1])
    if not part.isdigit():
        raise ConfigError(f"{override.shown}: {where} is a list: index it by number (from 0), not {part!r}")
    if int(part) >= len(items):
        count = (f"{len(items)} stage{'s' if len(items) != 1 else ''}" if here[:-1] == ("stages",)
                 else f"{len(items)} item{'s' if len(items) != 1 else ''} in {where}")
        last = f" (indices count from 0: the last is {where}.{len(items) - 1})" if items else ""
        if override.flag == "--set" and context.startswith("the suite's"):
            last += "; --set-run RUN.KEY=VALUE changes one run only"
        raise ConfigError(f"{override.shown}: {context} has {count}{last}")
    return int(part)


def _not_a_table(override: Override, path: tuple[str, ...], value: Any, context: str) -> ConfigError:
    return ConfigError(f"{override.shown}: {'.'.join(path)} of {context} is {json.dumps(value, default=str)}, "
                       "not a table or a list")


def merge_tables(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Later layers win; a table present in two layers is merged key by key (a suite's defaults,
    per-dataset tables and run entries; a ``--set`` table over the config's). Values are copied."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            both = isinstance(value, Mapping) and isinstance(merged.get(key), Mapping)
            merged[key] = merge_tables(merged[key], value) if both else copy.deepcopy(value)
    return merged


# ============================================================================================
# Blaming the flag
# ============================================================================================


@contextmanager
def blamed_on(overrides: Iterable[Override], where: str, path: str = "") -> Iterator[None]:
    """Re-raise a config error about a key an override set as an error of that flag.

    The checks inside name keys as ``{where}: {path}.{key}: cause``; an error whose key an
    override set (or a key beside it, as lr_steps beside epochs) becomes
    ``--set KEY=VALUE: {key}: cause``. Other errors keep their file and key, and say which
    overrides were in play.
    """
    overrides = list(overrides)
    try:
        yield
    except ConfigError as exc:
        if not overrides:
            raise
        raise _blame(exc, overrides, where, path) from None


def _blame(exc: ConfigError, overrides: list[Override], where: str, path: str) -> ConfigError:
    message = str(exc)
    prefix = f"{where}: {path}." if path else f"{where}: "
    if message.startswith(prefix):
        rest = message[len(prefix):]
        key = rest.partition(": ")[0]
        for override in reversed(overrides):  # the last override of a key is the one in effect
            if _related(override.key, key):
                return ConfigError(f"{override.shown}: {rest}")
    shown = ", ".join(o.shown for o in overrides)
    return ConfigError(f"{message} (with {shown})")


def _related(set_key: str, error_key: str) -> bool:
    """The override set ``error_key``, a part of it, a table holding it, or a key beside it."""
    def inside(key: str, table: str) -> bool:
        return key == table or key.startswith(table + ".") or key.startswith(table + "[")

    parent = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", error_key)
    return (inside(error_key, set_key) or inside(set_key, error_key)
            or (parent != error_key and bool(parent) and inside(set_key, parent) and set_key.count(".") ==
                error_key.count(".")))
