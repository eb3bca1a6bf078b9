"""What makes two configs the same run, defined once: the store, the leaderboard, tuning and the
record all ask here.

Two configs are the same run when :func:`comparable` gives equal tables: every field, absent
ones at their defaults, without the *placement* keys, which say where things are, not what ran.
Only then does the store reuse or resume a folder (:mod:`itr_bench.store.state`), does the leaderboard
average seeds into one row (:mod:`itr_bench.results.seed_configs`) and does a tuning study continue
(:mod:`itr_bench.tuning.space`); :func:`config_changes` names the keys that differ.

:func:`config_hash` is the record's short label of the config *as it was written*: every key but
the name, so it also tells placement apart. It labels records (the committed ones carry it, so it
never changes) and is never used to decide reuse. All these digests are :func:`short_hash`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import RunConfig, StageConfig

#: The key that names a run (its folder says it): part of no identity and no hash.
NAME_KEYS = frozenset({"name"})
#: Keys that say where things are, not what ran: the run's name, the prepared-data cache (keyed by
#: the dataset's content, so any location gives the same data) and how images reach the model
#: (streaming workers, the device-memory share: batches are the same tensors whatever they are,
#: ``tests/feed/test_streaming.py``).
PLACEMENT_KEYS = NAME_KEYS | {"cache_dir", "workers", "feed_memory_fraction"}

_ABSENT = object()


def short_hash(data: Any, length: int) -> str:
    """The first ``length`` hex digits of SHA-256 over ``data`` as sorted JSON (non-JSON values as ``str``)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:length]


def config_hash(config: RunConfig | Mapping[str, Any]) -> str:
    """The record's 12-digit label of ``config`` as written (a :class:`RunConfig` or a stored table):
    everything but its name."""
    data = config.as_dict() if isinstance(config, RunConfig) else config
    return short_hash({k: v for k, v in data.items() if k not in NAME_KEYS}, 12)


def comparable(config: RunConfig | Mapping[str, Any]) -> dict[str, Any]:
    """A config as stored in JSON, with every field present and the placement keys left out.

    A field the stored config lacks (it was written before the field existed) takes its
    default, which is what that run used; a field the code no longer has is dropped.
    """
    data = config.as_dict() if isinstance(config, RunConfig) else dict(config)
    data = json.loads(json.dumps(data, default=str))
    known = {f.name for f in dataclasses.fields(RunConfig)}
    out = {**_defaults(RunConfig), **{k: v for k, v in data.items() if k in known}}
    if isinstance(out.get("stages"), list):
        stage_defaults, stage_known = _defaults(StageConfig), {f.name for f in dataclasses.fields(StageConfig)}
        out["stages"] = [{**stage_defaults, **{k: v for k, v in s.items() if k in stage_known}}
                         if isinstance(s, Mapping) else s for s in out["stages"]]
    return {k: v for k, v in out.items() if k not in PLACEMENT_KEYS}


def _defaults(cls: type) -> dict[str, Any]:
    """The JSON form of every field of ``cls`` that has a default."""
    fields = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
              for f in dataclasses.fields(cls)
              if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}
    return json.loads(json.dumps(fields))


@dataclass(frozen=True)
class Change:
    """One key whose stored value differs from the planned one."""

    key: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.key} {_show(self.old)} -> {_show(self.new)}"


def _show(value: Any) -> str:
    return "(absent)" if value is _ABSENT else json.dumps(value, default=str)


def config_changes(stored: Mapping[str, Any], planned: RunConfig | Mapping[str, Any]) -> list[Change]:
    """Every key (dotted, with list indices) whose stored value differs from the planned one."""
    changes: list[Change] = []
    _diff(comparable(stored), comparable(planned), "", changes)
    return changes


def _diff(old: Any, new: Any, path: str, out: list[Change]) -> None:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            _diff(old.get(key, _ABSENT), new.get(key, _ABSENT), f"{path}.{key}" if path else str(key), out)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new)):
            _diff(a, b, f"{path}[{index}]", out)
    elif old != new or type(old) is not type(new) and not _same_number(old, new):
        out.append(Change(path, old, new))


def _same_number(a: Any, b: Any) -> bool:
    numbers = (int, float)
    return isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool) \
        and a == b
