"""One leaderboard row, one config: the seeds a row averages must have run under the same settings.

Two invocations of a suite on one store (``--seeds 2 --set stages.0.lr=0.05`` after seeds 0 and 1,
or two concurrent runs with different ``--set``) leave seeds of one run trained under different
configs. Averaging them would give a row that describes no experiment, so the leaderboard compares
the seeds' stored configs by the identity the store uses to reuse a run
(:func:`itr_bench.run_identity.comparable`: every field, placement keys left out), with the seed itself
left out too. Seeds that differ stop the leaderboard with one line naming the run, the seeds and the
differing keys; with ``split=True`` (``itr-bench leaderboard --split-configs``) each config becomes
its own row, labelled ``<run> [config <digest>]``. Records without a stored config (hand-made ones)
are not compared: there is nothing to compare.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ItrBenchError
from ..run_identity import comparable, config_changes, short_hash

#: What varies between the seeds of one run by design.
PER_SEED_KEYS = frozenset({"seed"})


def identity(config: Mapping[str, Any]) -> str:
    """A short digest of ``config`` as the store compares it, without the seed."""
    data = {k: v for k, v in comparable(config).items() if k not in PER_SEED_KEYS}
    return short_hash(data, 8)


def differing_keys(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """The dotted keys whose values differ between two configs, the seed left out."""
    return [str(change) for change in config_changes(a, b)
            if change.key.split(".")[0].split("[")[0] not in PER_SEED_KEYS]


def label_by_config(rows: list[dict], configs: list[Mapping[str, Any] | None], split: bool = False) -> None:
    """Check that the rows of each (suite, dataset, run) ran under one config; with ``split``,
    relabel each row's ``run`` with its config's digest where a run has several (in place)."""
    groups: dict[tuple, dict[str, list[int]]] = {}
    for index, (row, config) in enumerate(zip(rows, configs)):
        if isinstance(config, Mapping):
            key = (row["suite"], row["dataset"], row["run"])
            groups.setdefault(key, {}).setdefault(identity(config), []).append(index)
    for (suite, dataset, run), by_config in groups.items():
        if len(by_config) < 2:
            continue
        if not split:
            raise ItrBenchError(_mixed(suite, dataset, run, list(by_config.values()), rows, configs))
        for digest, indices in by_config.items():
            for index in indices:
                rows[index]["run"] = f"{run} [config {digest}]"


def _mixed(suite: str, dataset: str, run: str, groups: list[list[int]], rows: list[dict],
           configs: list[Mapping[str, Any] | None]) -> str:
    first, other = groups[0], groups[1]
    seeds = [" ".join(str(rows[i]["seed"]) for i in sorted(g, key=lambda i: rows[i]["seed"])) for g in (first, other)]
    keys = differing_keys(configs[first[0]], configs[other[0]])  # type: ignore[arg-type]
    where = f"{suite}/{dataset}/{run}" if suite != "-" else f"{dataset}/{run}"
    return (f"{where}: seeds {seeds[0]} and seeds {seeds[1]} ran under different configs "
            f"({'; '.join(keys)[:400]}); averaging them would mix experiments: rerun those seeds under one config "
            f"or pass `itr-bench leaderboard --split-configs` to show each config as its own row")
