"""Build timm models with pretrained weights from the local cache only; never download at run time.

timm would fetch missing weights from the Hugging Face Hub or a URL. A benchmark must not
reach the network at run time, so we look for the file timm *would* download in the local
caches ourselves (the Hugging Face hub cache, ``$HF_HOME``/``$HF_HUB_CACHE``, or torch hub's
``checkpoints/`` for URL-only models), read it without unpickling anything (safetensors, or
``torch.load(weights_only=True)``) and hand timm the tensors (``pretrained_cfg_overlay``), so
timm still applies its own classifier removal and checkpoint filters.

:func:`fetch_timm_weights` is the one function that downloads (``itr-bench fetch-weights``);
:func:`declare_timm_weights` tells the core, before a run is built, which weights it needs.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from itr_bench.errors import ItrBenchError, did_you_mean
from itr_bench.network import require_network
from itr_bench.pretrained import PretrainedWeights
from itr_bench.weights import read_weights

if TYPE_CHECKING:  # registration (declare_timm_weights) must not import torch
    import torch
    from torch import nn

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
    import torch
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
    partial: bool | None = None,
    **kwargs,
) -> TimmModel:
    """``timm.create_model`` that only ever reads local weights.

    ``pretrained``: True requires cached weights (error if absent), None uses them when
    cached and says so, False starts from random weights. ``checkpoint`` is a weight file the
    user gives, which wins over the cache. ``owner`` names the component in messages. Weights
    that leave a parameter unloaded or hold unused keys are refused, naming them, unless
    ``partial`` (then the returned ``weights`` says what was partial, for the record); None: the
    component offers no ``partial_checkpoint`` option, so the refusal does not suggest one.
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
    # Read safely here (timm's own loader unpickles in full on older timm/torch versions), so a
    # file holding anything but tensors is refused, and hand timm the tensors themselves.
    state = state_dict_of(read_weights(weights, owner), owner, weights)
    try:
        with LoadReport() as report:
            module = timm.create_model(
                model_name, pretrained=True, pretrained_cfg_overlay={"state_dict": state}, **kwargs
            )
    except (RuntimeError, OSError, ValueError, KeyError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ItrBenchError(
            f"{owner}: cannot load weights file {str(weights)!r} into timm {model_name!r}: {first_line}"
        ) from None
    if report.missing or report.unexpected:
        if not partial:
            hint = "; set partial_checkpoint = true to load it partially anyway" if partial is False else ""
            raise ItrBenchError(f"{owner}: weights file {str(weights)!r} does not fit timm {model_name!r}: "
                                f"{report.describe()}{hint}")
        log.warning("%s: partial load of %s: %s", owner, weights, report.describe())
        return TimmModel(module, f"{weights} (partial: {report.describe()})")
    return TimmModel(module, str(weights))


class LoadReport(logging.Handler):
    """What timm's loader did not load, read from the lines it logs (it returns nothing).

    timm loads non-strictly whenever it drops the classifier (``num_classes=0``, as every trunk
    here), and then only logs the parameters it left at random and the file's keys it ignored:
    a checkpoint whose names match nothing would train a random trunk under the file's name.
    While open, the report takes those lines instead of the console.
    """

    LOGGER = "timm.models._builder"
    LINE = re.compile(r"^(Missing|Unexpected) keys \((.*)\) (?:discovered|found) while loading")

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.missing: list[str] = []
        self.unexpected: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        found = self.LINE.match(record.getMessage())
        if found:
            keys = [k for k in found.group(2).split(", ") if k]
            (self.missing if found.group(1) == "Missing" else self.unexpected).extend(keys)

    def __enter__(self) -> Self:
        logger = logging.getLogger(self.LOGGER)
        self._saved = (logger.level, logger.propagate)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logger = logging.getLogger(self.LOGGER)
        logger.removeHandler(self)
        logger.setLevel(self._saved[0])
        logger.propagate = self._saved[1]

    def describe(self) -> str:
        parts = []
        for what, keys in (("parameters not in the file", self.missing), ("unused keys", self.unexpected)):
            if keys:
                shown = ", ".join(keys[:5]) + (f", ... ({len(keys)} in all)" if len(keys) > 5 else "")
                parts.append(f"{what}: {shown}")
        return "; ".join(parts)


def _where(model_name: str) -> str:
    import timm
    import torch

    cfg = timm.models.get_pretrained_cfg(model_name)
    if cfg is None:
        return "timm lists no pretrained weights for it"
    if cfg.hf_hub_id:
        return f"looked for Hugging Face Hub repo {cfg.hf_hub_id!r}"
    return f"looked for {os.path.basename(cfg.url or '?')!r} in {torch.hub.get_dir()}"


def state_dict_of(stored: Any, owner: str, path: str | Path) -> dict[str, torch.Tensor]:
    """The name -> tensor mapping in what :func:`itr_bench.weights.read_weights` returned.

    A training checkpoint that nests its weights under ``state_dict`` or ``model`` is unwrapped.
    """
    import torch

    for key in ("state_dict", "model"):
        if isinstance(stored, Mapping) and isinstance(stored.get(key), Mapping):
            stored = stored[key]
    if not isinstance(stored, Mapping) or not stored:
        raise ItrBenchError(f"{owner}: weights file {str(path)!r} holds no mapping of parameter names to tensors")
    return {str(k): v if isinstance(v, torch.Tensor) else torch.as_tensor(v) for k, v in stored.items()}


def fetch_timm_weights(model_name: str) -> Path:
    """Download ``model_name``'s pretrained weights into the usual cache (network!) and return the file.

    Hub weights go to the Hugging Face cache (safetensors preferred), URL-only weights to torch
    hub's ``checkpoints/``: exactly where :func:`find_cached_weights` looks.
    """
    import timm
    import torch
    from huggingface_hub import hf_hub_download

    cfg = timm.models.get_pretrained_cfg(model_name)
    if cfg is None:
        raise ItrBenchError(f"timm lists no pretrained weights for {model_name!r}")
    if cfg.hf_hub_id:
        from huggingface_hub import constants

        require_network(constants.ENDPOINT, f"cannot download {cfg.hf_hub_id!r} from the Hugging Face Hub")
        names = (cfg.hf_hub_filename,) if cfg.hf_hub_filename else HUB_WEIGHT_FILES
        failures = []
        for name in names:
            try:
                return Path(hf_hub_download(cfg.hf_hub_id, name))
            except Exception as exc:  # noqa: BLE001 - try the next file name, report all at the end
                failures.append(f"{name}: {type(exc).__name__}")
        raise ItrBenchError(f"cannot download {cfg.hf_hub_id!r} from the Hugging Face Hub ({'; '.join(failures)})")
    if cfg.url:
        require_network(cfg.url, f"cannot download {cfg.url}")
        target = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(cfg.url)
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(cfg.url, str(target))
        return target
    raise ItrBenchError(f"timm gives no download location for {model_name!r}")


def declare_timm_weights(
    *, model_option: str | None, default_model: str, default_pretrained: bool | None, group: str = "image.trunk"
) -> Callable[[Mapping[str, Any]], list[PretrainedWeights]]:
    """Registry metadata ``weights`` for a component built by :func:`create_timm_model`.

    ``model_option`` names the option holding the timm model name (None: always
    ``default_model``); the options ``pretrained`` and ``checkpoint`` mean what they mean there.
    """

    def declare(options: Mapping[str, Any]) -> list[PretrainedWeights]:
        import timm

        model = options.get(model_option, default_model) if model_option else default_model
        if not isinstance(model, str) or not timm.is_model(model):
            return []  # building the component reports the bad name
        checkpoint = options.get("checkpoint")
        if checkpoint is not None:
            path = Path(str(checkpoint)).expanduser()
            return [PretrainedWeights(group, f"checkpoint {str(checkpoint)!r}", True,
                                      lambda: path if path.is_file() else None, None, "given as checkpoint")]
        pretrained = options.get("pretrained", default_pretrained)
        cfg = timm.models.get_pretrained_cfg(model)
        name = cfg.hf_hub_id if cfg is not None and cfg.hf_hub_id else f"timm {model}"
        return [PretrainedWeights(group, name, pretrained, lambda: find_cached_weights(model),
                                  lambda: fetch_timm_weights(model), _where(model))]

    return declare
