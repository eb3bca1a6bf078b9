"""Choosing experiment trackers (``--report-to``, a suite's ``report_to``), checked before training.

Kept apart from :mod:`itr_bench.engine.tracking` (which feeds them) so that planning a suite
imports no torch. The choice is not part of a run's config: it never changes a run's identity.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Sequence

from .errors import ConfigError, did_you_mean
from .registry import Registry

#: The run-folder file holding each tracker's run id and the last steps sent to them.
TRACKERS_FILE = "trackers.json"


def parse_report_to(text: str | Sequence[str] | None, where: str = "--report-to") -> list[str]:
    """``"tensorboard,mlflow"`` (or a list, as in a suite) -> ``["tensorboard", "mlflow"]``."""
    if text is None:
        return []
    parts = text.split(",") if isinstance(text, str) else list(text)
    if not all(isinstance(part, str) for part in parts):
        raise ConfigError(f"{where}: expected tracker names, got {text!r}")
    names = [part.strip() for part in parts if part.strip()]
    return list(dict.fromkeys(names))


def check_trackers(names: Iterable[str], registry: Registry, where: str = "--report-to") -> list[str]:
    """Refuse, before anything trains, a tracker nobody registered or whose package is missing.

    The message is one line naming the pip requirement the tracker declared (``requires``).
    """
    names = list(names)
    for name in names:
        if ("tracker", name) not in registry:
            raise ConfigError(f"{where}: no tracker {name!r}: {did_you_mean(name, registry.names('tracker'))}")
        requires = registry.get("tracker", name).metadata.get("requires", {})
        for module, requirement in requires.items():
            if importlib.util.find_spec(module) is None:
                raise ConfigError(f"{where}: tracker {name!r} needs the {module} package: "
                                  f"pip install '{requirement}'")
    return names
