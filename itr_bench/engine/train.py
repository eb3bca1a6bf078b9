"""The training loop: stages of epochs, validation-based selection, checkpoints, resume.

One :class:`Trainer` trains one run. After every epoch it writes ``last/`` (everything needed
to resume); after every validation that improves the run's ``select_metric`` (a declared metric,
:mod:`itr_bench.metrics.declarations`; rSum by default) it writes ``best/`` (the weights). A run
killed at any moment restarts from ``last/`` and continues with the same batches it would have
seen. The test split is never looked at here.
"""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..api import Loss
from ..config import StageConfig
from ..data.prepare import PreparedSplit
from ..errors import ConfigError, DamagedRunError, ItrBenchError, StaleRunError, did_you_mean
from ..feed.feeding import CaptionTokens, TrainFeed
from ..feed.negatives import NegativeMining
from ..metrics.declarations import DECLARED, DEFAULT_SELECT, Metric, MetricSet
from ..run_identity import config_changes
from ..store.record import BEST, LAST
from .checkpoint import load_checkpoint, save_checkpoint
from .distributed import mean_across_processes, world_info
from .evaluate import EvalSettings, evaluate_with_collapse
from .model import RetrievalModel
from .objective import NonFiniteLoss
from .optim import apply_freezing, build_optimizer, check_prefixes, plan_groups, set_stage_lr
from .tracking import NoTracking


@dataclass
class TrainState:
    """What resuming needs besides tensors (stored as JSON in the checkpoint)."""

    stage: int = 0
    epoch: int = 0  # next epoch within the stage
    global_epoch: int = 0
    best: dict[str, float] = field(default_factory=dict)
    best_epoch: int = -1
    #: collapse measures of the validation embeddings at the best epoch (itr_bench.metrics.collapse)
    best_collapse: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0
    pairs: int = 0
    #: Every term's value (and the weighted total) at the first step of each stage, so a record
    #: shows the balance between a stage's terms as it starts.
    stage_start_terms: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class TrainSettings:
    """The loop's knobs (a subset of the run config, so the loop never sees the whole config)."""

    stages: Sequence[StageConfig]
    batch_size: int
    #: how validation embeds its split (the run's evaluation settings, the test pass's too)
    evaluation: EvalSettings
    eval_every: int = 1
    log_every: int = 10
    where: str = "run"
    #: the components' own learning-rate multipliers (registry metadata ``lr_mult``)
    lr_mult_defaults: Mapping[str, float] = field(default_factory=dict)
    #: the metrics validation computes, and the one of them that chooses the best epoch
    metrics: MetricSet = DECLARED
    select_metric: str = DEFAULT_SELECT


class Trainer:
    def __init__(
        self,
        model: RetrievalModel,
        stage_losses: Sequence[Mapping[str, Loss]],
        feed: TrainFeed,
        val: tuple[PreparedSplit, CaptionTokens],
        settings: TrainSettings,
        out_dir: Path,
        device: torch.device,
        *,
        autocast: Callable[[], Any] = nullcontext,
        train_module: torch.nn.Module | None = None,
        progress: bool = True,
        extra_state: Mapping[str, Any] | None = None,
        stage_negatives: Sequence[NegativeMining | None] = (),
        on_epoch: Callable[[dict[str, Any]], None] | None = None,
        tracking: NoTracking | None = None,
    ) -> None:
        self.model, self.stage_losses, self.feed, self.val = model, stage_losses, feed, val
        self.settings, self.out_dir, self.device = settings, Path(out_dir), device
        self.autocast, self.progress = autocast, progress
        # the module whose forward computes the objective: the model, or its DDP wrapper
        self.train_module = train_module or model
        self.world = world_info()
        #: stored beside the training state in every checkpoint (the run config, for evaluate)
        self.extra_state = dict(extra_state or {})
        #: per stage: the negative sampler filling the second half of its batches, or None
        self.stage_negatives = list(stage_negatives) or [None] * len(settings.stages)
        #: called with each finished epoch's history entry (the run log)
        self.on_epoch = on_epoch or (lambda record: None)
        #: the experiment trackers (engine/tracking.py), told at each logging step and validation
        self.tracking = tracking or NoTracking()
        #: the metric that chooses the best epoch (checked before any training)
        self.select = settings.metrics.selection(settings.select_metric, settings.where)

    # ----------------------------------------------------------------------------------------
    def fit(self) -> TrainState:
        state, components = self._resume()
        self.tracking.begin(state)
        stages = self.settings.stages
        for stage_index in range(state.stage, len(stages)):
            stage = stages[stage_index]
            optimizer = self._stage_optimizer(stage, stage_index)
            if components is not None and "optimizer" in components:
                optimizer.load_state_dict(components["optimizer"])
                components = None
            for epoch in range(state.epoch, stage.epochs):
                set_stage_lr(optimizer, stage.lr_decay ** sum(step <= epoch for step in stage.lr_steps))
                record = self._train_epoch(stage_index, epoch, state, optimizer)
                last_epoch = stage_index == len(stages) - 1 and epoch == stage.epochs - 1
                if (state.global_epoch + 1) % self.settings.eval_every == 0 or last_epoch:
                    record["val"] = self._validate(state)
                state.history.append(record)
                self.on_epoch(record)
                state.global_epoch += 1
                state.epoch = epoch + 1
                if state.epoch == stage.epochs:
                    state.stage, state.epoch = stage_index + 1, 0
                self._save(LAST, state, optimizer)
            state.epoch = 0
        return state

    # ----------------------------------------------------------------------------------------
    def _stage_optimizer(self, stage: StageConfig, index: int) -> torch.optim.Optimizer:
        groups = self.model.param_groups()
        check_prefixes(stage.lr_mult, groups, f"{self.settings.where}: stages[{index}]")
        plans = plan_groups(groups, stage.lr_mult, self.settings.lr_mult_defaults)
        apply_freezing([self.model], plans)
        return build_optimizer(plans, stage.optimizer, stage.lr, stage.weight_decay, stage.momentum, stage.nesterov)

    def _train_epoch(self, stage_index: int, epoch: int, state: TrainState, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        stage = self.settings.stages[stage_index]
        losses = self.stage_losses[stage_index]
        self.model.train()
        sums: dict[str, float] = {}
        steps, pairs, start = 0, 0, time.perf_counter()
        negatives = self.stage_negatives[stage_index]
        batches = self.feed.batches()
        bar = tqdm(self.feed.epoch(state.global_epoch, negatives), total=batches, leave=False, unit="batch",
                   desc=f"stage {stage_index + 1}/{len(self.settings.stages)} epoch {epoch + 1}/{stage.epochs}",
                   disable=not self.progress or self.world.rank != 0)
        for batch in bar:
            starting = steps == 0 and epoch == 0
            grad_norms: dict[str, float] | None = {} if starting else None  # the stage's balance, measured once
            try:
                with self.autocast():
                    total, terms = self.train_module(batch.images, batch.token_ids, batch.instance_ids,
                                                     losses=losses, weights=stage.losses,
                                                     term_weights=stage.term_weights, grad_norms=grad_norms)
            except NonFiniteLoss:
                raise
            except ItrBenchError as exc:  # say where in training it happened
                hint = " (training diverged: lower the learning rate or add grad_clip)" if "NaN" in str(exc) else ""
                raise type(exc)(f"{self.settings.where}: stage {stage_index + 1} epoch {epoch + 1} "
                                f"step {steps + 1}: {exc}{hint}") from exc
            if steps == 0:
                self._check_term_weights(stage_index, terms)
                if epoch == 0:
                    self._record_stage_start(stage_index, state, {"loss": total, **terms}, grad_norms or {})
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            if stage.grad_clip:
                torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]], stage.grad_clip)
            optimizer.step()
            steps += 1
            pairs += len(batch.instance_ids) * self.world.size
            if steps % self.settings.log_every == 0 or steps == batches:
                values = {k: v.item() for k, v in mean_across_processes({"loss": total, **terms}).items()}
                self._check_finite(values, stage_index, epoch, steps)
                for key, value in values.items():
                    sums[key] = sums.get(key, 0.0) + value
                self.tracking.step(state, steps, values, optimizer, losses)
                bar.set_postfix(loss=f"{values['loss']:.4f}", pairs_s=f"{pairs / (time.perf_counter() - start):.0f}")
        seconds = time.perf_counter() - start
        if steps == 0:
            raise ItrBenchError(f"{self.settings.where}: the training split gives no full batch of "
                                f"{self.settings.batch_size}; lower batch_size")
        state.train_seconds += seconds
        state.pairs += pairs
        logged = max(1, steps // self.settings.log_every + (steps % self.settings.log_every > 0))
        return {"stage": stage_index, "epoch": epoch, "global_epoch": state.global_epoch, "steps": steps,
                "seconds": seconds, "pairs_per_second": pairs / seconds,
                "lr": optimizer.param_groups[0]["lr"], **{k: v / logged for k, v in sums.items()},
                **({"negatives": negatives.name} if negatives is not None else {})}

    def _record_stage_start(self, stage_index: int, state: TrainState, values: Mapping[str, Any],
                            grad_norms: Mapping[str, float]) -> None:
        """Keep the stage's first-step terms (unweighted; ``loss`` is the weighted total) and, under
        ``grad_norm``, each weighted term's gradient norm on the shared embedding (what the balance
        is about; ``itr_bench.engine.balance``), averaged over processes, once per stage; the
        stage's weights are in the record's objective."""
        device = values["loss"].device  # collectives need the device's tensors
        values = {k: v.item() for k, v in mean_across_processes(dict(values)).items()}
        norms = {k: torch.tensor(v, device=device) for k, v in grad_norms.items()}
        averaged = {k: v.item() for k, v in mean_across_processes(norms).items()} if norms else {}
        state.stage_start_terms = [s for s in state.stage_start_terms if s["stage"] != stage_index]
        state.stage_start_terms.append({"stage": stage_index, **values, "grad_norm": averaged})

    def _check_term_weights(self, stage_index: int, terms: Mapping[str, Any]) -> None:
        """A term weight naming no term would silently do nothing: refuse it."""
        stage = self.settings.stages[stage_index]
        for term in stage.term_weights:
            if term not in terms:
                raise ConfigError(f"{self.settings.where}: stages[{stage_index}].term_weights.{term}: no loss of "
                                  f"this stage returns that term ({did_you_mean(term, terms)})")

    def _check_finite(self, values: Mapping[str, float], stage: int, epoch: int, step: int) -> None:
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if bad:
            terms = ", ".join(f"{k}={v}" for k, v in values.items())
            raise NonFiniteLoss(f"{self.settings.where}: training diverged at stage {stage + 1} epoch {epoch + 1} "
                                f"step {step}: {terms} (lower the learning rate or add grad_clip)")

    def _validate(self, state: TrainState) -> dict[str, float]:
        split, tokens = self.val
        metrics, collapse = evaluate_with_collapse(self.model, split, tokens, self.settings.evaluation,
                                                   metrics=self.settings.metrics)
        self.tracking.validated(state, metrics, collapse)
        if improves(metrics, state.best, self.select):
            state.best, state.best_epoch, state.best_collapse = metrics, state.global_epoch, collapse
            self._save(BEST, state, None)
        return metrics

    # ----------------------------------------------------------------------------------------
    def _save(self, name: str, state: TrainState, optimizer: torch.optim.Optimizer | None) -> None:
        if self.world.rank != 0:
            return
        components: dict[str, Any] = {"model": self.model.state_dict()}
        if optimizer is not None:
            components["optimizer"] = optimizer.state_dict()
            components["rng"] = _rng_state()
        save_checkpoint(self.out_dir / name, components, {**self.extra_state, "train": state.__dict__})

    def _resume(self) -> tuple[TrainState, dict[str, Any] | None]:
        if not (self.out_dir / LAST).exists() and not (self.out_dir / f".{LAST}.old").exists():
            return TrainState(), None
        folder = self.out_dir / LAST
        components, saved = load_checkpoint(folder, device=self.device)
        stored = saved.get("config")
        planned = self.extra_state.get("config")
        if planned is not None and stored is not None:
            changes = config_changes(stored, planned)
            if changes:  # never extend a run trained under other settings
                raise StaleRunError(f"{folder}: trained under another config: {', '.join(map(str, changes))}")
        try:
            self.model.load_state_dict(components["model"])
            state = TrainState(**saved["train"])
            if "rng" in components:  # dropout draws continue exactly where the killed run stopped
                _set_rng_state(components.pop("rng"))
        except (KeyError, TypeError, RuntimeError) as exc:
            cause = " ".join(str(exc).split())[:300]
            raise DamagedRunError(f"{folder}: damaged checkpoint ({type(exc).__name__}: {cause})") from None
        if state.stage < len(self.settings.stages) and state.epoch == 0:
            components.pop("optimizer", None)  # a new stage starts with a fresh optimizer
        return state, components


def improves(metrics: Mapping[str, float], best: Mapping[str, float], select: Metric) -> bool:
    """Whether validation ``metrics`` beat the ``best`` so far by ``select`` (the first always
    does; a tie keeps the earlier epoch)."""
    return not best or select.better(metrics[select.name], best[select.name])


def peak_memory_bytes(device: torch.device) -> int:
    """Peak memory of this process: CUDA allocator peak on a GPU, max RSS on the CPU."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
