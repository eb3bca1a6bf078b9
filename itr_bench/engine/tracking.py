"""Feeding a run's curves to experiment trackers (``--report-to tensorboard,mlflow``).

The trainer calls a :class:`RunTracking` at three places: once training (re)starts, at each of
its logging steps (where it reads its loss values anyway, so no extra device sync per step),
and after each validation; :func:`itr_bench.engine.run.train_run` ends it with the test metrics
or the failure. It only reads values: no random draw, no change to what is trained.

What it sends, at global optimizer steps counted over the whole run: ``train/loss`` and each
term, ``train/lr/<group>``, ``train/grad_norm`` (after clipping, when ``grad_clip`` is set),
``train/param/<loss>.<name>`` for every scalar parameter or buffer of a loss (InfoNCE's logit
scale, SigLIP's bias), ``train/<loss>.<key>`` for a loss's :meth:`~itr_bench.api.Loss.diagnostics`
(the ranking loss's share of active hinges), ``train/seconds_per_step``; ``val/<metric>`` and
``val/collapse/<measure>`` per validation; ``test/...`` and the config at the end.

Resuming continues each tracker's run (the ids are kept in the run folder's ``trackers.json``):
the resumed process retrains from the last checkpoint with the same batches and draws and sends
its steps again from there; each tracker keeps one value per step (see
:meth:`itr_bench.api.Tracker.start`). Nothing is written per step besides what trackers write.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..api import FAILED, FINISHED, KILLED, Loss, TrackedRun, Tracker
from ..errors import ItrBenchError
from ..registry import Registry
from ..store.atomic import write_json
from ..store.files import read_json_file
from ..trackers import TRACKERS_FILE


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A config as dotted keys with scalar values (lists by index): trackers' hyper-parameters."""
    if isinstance(value, Mapping):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return {prefix: value if isinstance(value, (bool, int, float, str)) else str(value)}
    out: dict[str, Any] = {}
    for key, inner in items:
        out.update(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
    return out


def tracked_run(folder: Path, config: Any, context: Mapping[str, Any] | None, commit: str | None) -> TrackedRun:
    """Who the run is for a tracker: ``dataset/run/seed-N`` in its suite's experiment (``itr-bench``
    for a lone run)."""
    suite = (context or {}).get("suite")
    losses = sorted({name for stage in config.stages for name in stage.losses})
    tags = {"dataset": config.dataset, "run": config.name, "loss": "+".join(losses), "seed": str(config.seed),
            "commit": commit or "unknown", **({"suite": suite} if suite else {})}
    folder = Path(folder)
    root = folder.parents[2] if suite and len(folder.parents) > 2 else folder  # <store>/<suite>
    name = f"{config.dataset}/{config.name}/seed-{config.seed}"
    return TrackedRun(folder=folder, root=root, experiment=suite or "itr-bench", name=name, tags=tags)


class NoTracking:
    """What the trainer holds when no tracker was chosen: every call does nothing."""

    def begin(self, state: Any) -> None:
        pass

    def step(self, state: Any, steps: int, values: Mapping[str, float], optimizer: torch.optim.Optimizer,
             losses: Mapping[str, Loss]) -> None:
        pass

    def validated(self, state: Any, metrics: Mapping[str, float], collapse: Mapping[str, float]) -> None:
        pass

    def finish(self, status: str, record: Mapping[str, Any] | None = None, config: Any = None) -> list[str]:
        return []


class RunTracking(NoTracking):
    """One run's trackers, started lazily when training (re)starts, sent the same values."""

    def __init__(self, trackers: Mapping[str, Tracker], run: TrackedRun) -> None:
        self.trackers, self.run = dict(trackers), run
        self.path = run.folder / TRACKERS_FILE
        self.ids: dict[str, str] = {}  # of the trackers started, which finish() closes
        self._step = 0
        self._clock: tuple[float, int] | None = None

    @classmethod
    def create(cls, names: Sequence[str], registry: Registry, run: TrackedRun) -> NoTracking:
        """The trackers ``names`` (checked by :func:`check_trackers`) for ``run``; none: :class:`NoTracking`."""
        if not names or int(os.environ.get("RANK", "0")) != 0:  # only the first process reports
            return NoTracking()
        return cls({name: registry.create("tracker", name) for name in names}, run)

    # -- called by the trainer ------------------------------------------------------------------
    def begin(self, state: Any) -> None:
        """Start (or resume) every tracker's run, the ids of earlier processes read from the folder."""
        saved = read_json_file(self.path, dict) if self.path.is_file() else {}
        previous = saved.get("ids", {}) if isinstance(saved.get("ids"), Mapping) else {}
        self._step = steps_done(state)  # the checkpoint's step: what follows is (re)trained now
        for name, tracker in self.trackers.items():
            resume = previous.get(name)
            self.ids[name] = str(self._call(name, "start", tracker.start, self.run,
                                            resume if isinstance(resume, str) else None, self._step + 1))
            write_json(self.path, {"ids": {**previous, **self.ids}})  # kept as soon as it exists
        self._clock = (time.perf_counter(), self._step)

    def step(self, state: Any, steps: int, values: Mapping[str, float], optimizer: torch.optim.Optimizer,
             losses: Mapping[str, Loss]) -> None:
        """At a logging step: ``values`` are the loss terms the trainer just read (floats)."""
        self._step = step = steps_done(state) + steps
        now = time.perf_counter()
        last_time, last_step = self._clock or (now, step)
        self._clock = (now, step)
        scalars = {f"train/{key}": float(value) for key, value in values.items()}
        scalars.update(learning_rates(optimizer))
        norm = grad_norm(optimizer)
        if norm is not None:
            scalars["train/grad_norm"] = norm
        scalars.update(loss_scalars(losses))
        if step > last_step:
            scalars["train/seconds_per_step"] = (now - last_time) / (step - last_step)
        for name, tracker in self.trackers.items():
            self._call(name, "log_scalars", tracker.log_scalars, step, scalars)

    def validated(self, state: Any, metrics: Mapping[str, float], collapse: Mapping[str, float]) -> None:
        """After a validation, at the step that ended its epoch."""
        self._clock = None  # the next interval's time per step leaves validation out
        scalars = {f"val/{k}": float(v) for k, v in metrics.items()}
        scalars.update({f"val/collapse/{k}": float(v) for k, v in collapse.items()})
        for name, tracker in self.trackers.items():
            self._call(name, "log_eval", tracker.log_eval, self._step, state.global_epoch + 1, scalars)

    # -- called by train_run ----------------------------------------------------------------------
    def finish(self, status: str, record: Mapping[str, Any] | None = None, config: Any = None) -> list[str]:
        """Close every started tracker run with ``status``; returns what failed, one line each.

        A tracker failing here never changes the run's outcome: the record is written already.
        """
        if not self.ids:
            return []
        test: dict[str, float] = {}
        if record is not None:
            test = {f"test/{k}": float(v) for k, v in record.get("test", {}).items()}
            collapse = (record.get("collapse") or {}).get("test") or {}
            test.update({f"test/collapse/{k}": float(v) for k, v in collapse.items()})
        hyperparameters = flatten(config.as_dict()) if config is not None else {}
        errors = []
        for name in list(self.ids):
            try:
                self._call(name, "finish", self.trackers[name].finish, status, test, hyperparameters)
            except ItrBenchError as exc:
                errors.append(str(exc))
        self.ids.clear()
        return errors

    # ----------------------------------------------------------------------------------------------
    def _call(self, name: str, what: str, method: Any, *args: Any) -> Any:
        try:
            return method(*args)
        except ItrBenchError:
            raise
        except Exception as exc:  # a tracker's own failure, named
            raise ItrBenchError(f"tracker {name!r} failed in {what}: {type(exc).__name__}: {exc}") from exc


def status_of(exc: BaseException | None) -> str:
    """``finished``, ``killed`` (Ctrl-C) or ``failed``: how a tracked run ended."""
    if exc is None:
        return FINISHED
    return KILLED if isinstance(exc, KeyboardInterrupt) else FAILED


def steps_done(state: Any) -> int:
    """Optimizer steps of the epochs already finished (the trainer's history)."""
    return sum(int(epoch.get("steps", 0)) for epoch in state.history)


def learning_rates(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    return {f"train/lr/{group.get('name') or index}": float(group["lr"])
            for index, group in enumerate(optimizer.param_groups)}


def grad_norm(optimizer: torch.optim.Optimizer) -> float | None:
    """The L2 norm of every gradient the optimizer just applied (None when there are none)."""
    grads = [p.grad.detach() for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if not grads:
        return None
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads])))


def loss_scalars(losses: Mapping[str, Loss]) -> dict[str, float]:
    """Every scalar parameter and buffer of each loss (learned temperatures, biases) and its diagnostics."""
    out: dict[str, float] = {}
    for loss_name, loss in losses.items():
        tensors = [*loss.named_parameters(), *loss.named_buffers()]
        for key, tensor in tensors:
            if tensor.numel() == 1 and tensor.dtype.is_floating_point:
                out[f"train/param/{loss_name}.{key}"] = float(tensor.detach())
        for key, value in loss.diagnostics().items():
            out[f"train/{loss_name}.{key}"] = float(value)
    return out
