"""Pretrained weights a run loads: known before anything is built, fetched on request, hashed in records.

Runs never touch the network. A component that starts from pretrained weights says so when it
registers, with metadata ``weights``: a callable ``options -> list[PretrainedWeights]``. From
that the core can, at plan time (``itr-bench run --dry-run`` already):

- refuse a run that requires weights the local cache does not hold, with the one command that
  fetches them (``itr-bench fetch-weights SUITE``, the only place that downloads);
- refuse a stage that freezes (``lr_mult`` 0) a group that starts from random weights, unless the
  run says ``allow_frozen_random = true``: a frozen random trunk is a fixed random projection,
  which is a legitimate control but never what someone asking for "Stage I" means.

After a run is built, :func:`weight_record` lists the file each group was loaded from and its
sha256 for the run record (encoders report it through ``weight_sources``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import RunConfig, StageConfig
from .errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

#: Registry metadata key under which a component declares its pretrained weights.
METADATA_KEY = "weights"
#: Run-config key that lets a stage freeze a randomly initialised group on purpose.
ALLOW_FROZEN_RANDOM = "allow_frozen_random"
#: Encoder option keys per encoder kind, for messages.
ENCODERS = (("image_encoder", "image_options"), ("text_encoder", "text_options"))


@dataclass(frozen=True)
class PretrainedWeights:
    """Weights a component would load, described from its options before it is built."""

    #: The parameter group they initialise (``image.trunk``): what freezing is checked against.
    group: str
    #: What they are, for messages (``timm resnet50.a1_in1k``).
    name: str
    #: True: required (missing is an error); None: used when cached, random init otherwise;
    #: False: not used, the group starts random.
    use: bool | None
    #: The local file holding them, or None when it is not there.
    locate: Callable[[], Path | None]
    #: Download them into the usual cache (network); None when they cannot be fetched (a
    #: user's own checkpoint file).
    fetch: Callable[[], Path] | None = None
    #: Where :attr:`locate` looked, for messages.
    where: str = ""

    def starts_random(self) -> bool:
        """Whether the group will start from random weights when the run is built now."""
        return self.use is False or (self.use is None and self.locate() is None)


def declared(config: RunConfig, registry: Any) -> Iterator[tuple[str, PretrainedWeights]]:
    """``(options key, weights)`` for every pretrained weight file the run's encoders declare."""
    for kind, options_key in ENCODERS:
        name = getattr(config, kind)
        declare = registry.get(kind, name).metadata.get(METADATA_KEY)
        if callable(declare):
            for weights in declare(dict(getattr(config, options_key))):
                yield options_key, weights


def check_pretrained(config: RunConfig, registry: Any, where: str, path: str = "", fetch_hint: str | None = None) -> None:
    """Refuse missing required weights and frozen random groups (see the module docstring).

    ``fetch_hint`` is the command to show for fetching (default: the generic form).
    """
    prefix = f"{path}." if path else ""
    hint = fetch_hint or "itr-bench fetch-weights SUITE"
    defaults = component_lr_mult(config, registry)
    for options_key, weights in declared(config, registry):
        if weights.use and weights.locate() is None:
            how = f"fetch them once while online with '{hint}'" if weights.fetch else "check the path"
            looked = f" ({weights.where})" if weights.where else ""
            raise ConfigError(f"{where}: {prefix}{options_key}: needs pretrained weights {weights.name}, which are "
                              f"not on this machine{looked} and runs never download; {how}")
        if config.allow_frozen_random or not weights.starts_random():
            continue
        for index, stage in enumerate(config.stages):
            if freezes(stage, weights.group, defaults):
                raise ConfigError(
                    f"{where}: {prefix}stages[{index}].lr_mult: freezes {weights.group}, which starts from random "
                    f"weights ({options_key} does not load {weights.name}); a frozen random trunk is no pretrained "
                    f"feature extractor: load pretrained weights, or set {ALLOW_FROZEN_RANDOM} = true to mean it")


def component_lr_mult(config: RunConfig, registry: Any) -> dict[str, float]:
    """The encoders' own learning-rate multipliers (registry metadata ``lr_mult``), text over image."""
    return {**registry.get("image_encoder", config.image_encoder).metadata.get("lr_mult", {}),
            **registry.get("text_encoder", config.text_encoder).metadata.get("lr_mult", {})}


def freezes(stage: StageConfig, group: str, defaults: Mapping[str, float]) -> bool:
    """Whether ``stage`` sets a multiplier of 0 on ``group``, a prefix of it or any group under it."""
    table = {**defaults, **stage.lr_mult}
    return any(value == 0 and (key == group or group.startswith(key + ".") or key.startswith(group + "."))
               for key, value in table.items())


def weight_record(*encoders: nn.Module) -> dict[str, dict[str, str]]:
    """Group -> ``{"file", "sha256"}`` (or ``{"source": "random"}``) from the encoders' ``weight_sources``."""
    record: dict[str, dict[str, str]] = {}
    for encoder in encoders:
        sources = getattr(encoder, "weight_sources", None)
        for group, source in (sources() if callable(sources) else {}).items():
            record[group] = {"source": "random"} if source == "random" else {"file": source, "sha256": sha256(source)}
    return record


def sha256(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
