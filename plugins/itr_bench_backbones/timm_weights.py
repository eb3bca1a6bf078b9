"""Build timm models with pretrained weights from the local cache only; never download.

timm would fetch missing weights from the Hugging Face Hub or a URL. A benchmark must not
reach the network at run time, so we look for the file timm *would* download in the local
caches ourselves and hand it to timm as a file (``pretrained_cfg_overlay=dict(file=...)``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from itr_bench.errors import ItrBenchError, did_you_mean
from itr_bench.weights import read_weights

log = logging.getLogger(__name__)

#: File names timm loads from a Hugging Face Hub weight repository, preferred first.
HUB_WEIGHT_FILES: tuple[str, ...] = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class TimmModel:
    """A created timm model and where its weights came from (kept in run records)."""

    module: nn.Module
    #: ``"random"`` or the local file the weights were loaded from.
    weights: str


def find_cached_weights(model_name: str, cache_dir: str | Path | None = None) -> Path | None:
    """The locally cached weight file of ``model_name`` (``arch`` or ``arch.tag``), if any."""
    import timm
    from huggingface_hub import try_to_load_from_cache

    cfg = timm.models.get_pretrained_cfg(model_name)
    if cfg is None:
        return None
    if cfg.file and Path(cfg.file).is_file():
        return Path(cfg.file)
    if cfg.hf_hub_id:
        names = (cfg.hf_hub_filename,) if cfg.hf_hub_filename else HUB_WEIGHT_FILES
        for name in names:
            found = try_to_load_from_cache(cfg.hf_hub_id, name, cache_dir=cache_dir)
            if isinstance(found, str) and Path(found).is_file():
                return Path(found)
    if cfg.url:
        legacy = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(cfg.url)
        if legacy.is_file():
            return legacy
    return None


def create_timm_model(
    model_name: str,
    pretrained: bool | None,
    *,
    owner: str,
    checkpoint: str | Path | None = None,
    **kwargs,
) -> TimmModel:
    """``timm.create_model`` that only ever reads local weights.

    ``pretrained``: True requires cached weights (error if absent), None uses them when
    cached and says so, False starts from random weights. ``checkpoint`` is a weight file the
    user gives, which wins over the cache. ``owner`` names the component in messages.
    """
    import timm  # imported on use: registering the plugin stays cheap

    if not timm.is_model(model_name):
        raise ItrBenchError(
            f"{owner}: unknown timm model {model_name!r}: {did_you_mean(model_name, timm.list_models())}"
        )
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise ItrBenchError(f"{owner}: checkpoint file {str(checkpoint)!r} does not exist")
    weights = (
        Path(checkpoint)
        if checkpoint is not None
        else (find_cached_weights(model_name) if pretrained is not False else None)
    )
    if weights is None:
        if pretrained:
            raise ItrBenchError(
                f"{owner}: pretrained weights for timm model {model_name!r} are not in the local cache "
                f"({_where(model_name)}) and nothing is downloaded at run time; cache them first, pass "
                "checkpoint=<file>, or set pretrained=false"
            )
        if pretrained is None:
            log.warning(
                "%s: no cached pretrained weights for timm %r (%s); using random init",
                owner,
                model_name,
                _where(model_name),
            )
        else:
            log.info("%s: timm %r starts from random init (pretrained=false)", owner, model_name)
        return TimmModel(timm.create_model(model_name, pretrained=False, **kwargs), "random")
    log.info("%s: timm %r loads pretrained weights from %s", owner, model_name, weights)
    # timm's own loader unpickles in full on older timm/torch versions; read the file safely
    # first, so a file holding anything but tensors is refused before timm opens it.
    read_weights(weights, owner)
    try:
        module = timm.create_model(
            model_name, pretrained=True, pretrained_cfg_overlay={"file": str(weights)}, **kwargs
        )
    except (RuntimeError, OSError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ItrBenchError(
            f"{owner}: cannot load weights file {str(weights)!r} into timm {model_name!r}: {first_line}"
        ) from None
    return TimmModel(module, str(weights))


def _where(model_name: str) -> str:
    import timm

    cfg = timm.models.get_pretrained_cfg(model_name)
    if cfg is None:
        return "timm lists no pretrained weights for it"
    if cfg.hf_hub_id:
        return f"looked for Hugging Face Hub repo {cfg.hf_hub_id!r}"
    return f"looked for {os.path.basename(cfg.url or '?')!r} in {torch.hub.get_dir()}"
