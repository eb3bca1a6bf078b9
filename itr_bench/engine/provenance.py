"""What a run record states about what actually ran: augmentations, plugins, environment.

A record describes what happened, not what the config asked for: the image crop rule the feed
really applied, the text augmentation the encoder really performs (``none`` when it performs
none, whatever ``text_augment`` says), the distributions that supplied each component, and the
machine. :data:`VOLATILE_FIELDS` lists the few fields that differ between two runs of the same
config and seed on one machine (timings and timestamps); everything else must be identical.
"""

from __future__ import annotations

import functools
import importlib.metadata
import platform
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import torch

from .. import __version__
from ..api import TextEncoder
from ..config import RunConfig
from ..registry import Registry

#: Libraries whose versions every record states (the ones that can change a number).
LIBRARIES = ("torch", "numpy", "timm", "transformers", "datasets")
#: Record fields that may differ between two identical runs on one machine: timings, memory
#: peaks (a process-wide maximum) and the timestamp. ``history.*.x`` is field x of every epoch.
#: ``feed`` (which path fed the images, its limit and reason) follows the free memory measured
#: as the run starts; the batches are the same tensors on either path (``tests/feed/test_streaming.py``).
VOLATILE_FIELDS = ("train_seconds", "wall_seconds", "train_pairs_per_second", "peak_memory_bytes",
                   "environment.timestamp_utc", "history.*.seconds", "history.*.pairs_per_second",
                   "feed")


def text_augmentation(text: TextEncoder, enabled: bool) -> str:
    """The text augmentation training applied: the encoder's own name for it, or ``none``.

    An encoder that overrides ``augment_ids`` without naming what it does is reported as such
    rather than as ``none``.
    """
    if not enabled:
        return "none (text_augment = false)"
    name = getattr(text, "text_augmentation", "none")
    if name == "none" and type(text).augment_ids is not TextEncoder.augment_ids:
        return f"unnamed ({type(text).__qualname__}.augment_ids)"
    return name


def component_plugins(registry: Registry, config: RunConfig) -> dict[str, dict[str, Any]]:
    """Per plugin that supplied a component of the run: its distribution, version and components."""
    wanted = [("dataset", config.dataset), ("image_encoder", config.image_encoder),
              ("text_encoder", config.text_encoder),
              *sorted({("loss", name) for stage in config.stages for name in stage.losses})]
    plugins: dict[str, dict[str, Any]] = {}
    for kind, name in wanted:
        info = registry.get(kind, name)
        distribution, version = _distribution(info.module)
        entry = plugins.setdefault(info.plugin, {"distribution": distribution, "version": version, "components": []})
        entry["components"].append(f"{kind}:{name}")
    return plugins


def _distribution(module: str) -> tuple[str | None, str | None]:
    """The installed distribution that provides ``module`` and its version (None: not installed)."""
    top = module.partition(".")[0]
    names = _packages_distributions().get(top) or []
    if not names:
        return None, None
    if names[0] == "itr-bench":  # built-ins: the version of the code that ran, not of an older install
        return "itr-bench", __version__
    return names[0], importlib.metadata.version(names[0])


@functools.cache
def _packages_distributions() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()


def environment(device: torch.device, world_size: int) -> dict[str, Any]:
    """Timestamp (UTC), Python and library versions, processor or GPU, threads, world size."""
    return {
        "timestamp_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "libraries": {name: _version(name) for name in LIBRARIES},
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "threads": torch.get_num_threads(),
        "world_size": world_size,
    }


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def without_volatile(record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` without :data:`VOLATILE_FIELDS`: what must repeat byte for byte."""
    out = {key: value for key, value in record.items()}
    for field in VOLATILE_FIELDS:
        head, _, rest = field.partition(".")
        if not rest:
            out.pop(head, None)
        elif rest.startswith("*."):
            out[head] = [{k: v for k, v in item.items() if k != rest[2:]} for item in out.get(head) or []]
        elif isinstance(out.get(head), Mapping):
            out[head] = {k: v for k, v in out[head].items() if k != rest}
    return out

