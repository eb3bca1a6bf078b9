"""One run end to end: resolve components, prepare data, train, select on val, test once, record.

This is the only place that turns a :class:`~itr_bench.config.RunConfig` into objects; the
training loop and the evaluation never see the config itself.
"""

from __future__ import annotations

import functools
import os
import platform
import random
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..api import EncoderContext, Inputs, Loss, LossContext
from ..config import RunConfig, check_components, check_registered
from ..data.cache_location import cache_dir
from ..data.prepare import PreparedDataset, prepare
from ..data.subset import HeadSubset
from ..errors import ConfigError
from ..feed.feeding import CaptionTokens, TrainFeed, test_view
from ..feed.negatives import EvalEmbedder, NegativeChoice, NegativeMining, needs_negatives
from ..loss_contract import check_declared_layout, check_paired
from ..metrics.collapse import RULE as COLLAPSE_RULE
from ..metrics.collapse import is_degenerate
from ..metrics.declarations import DECLARED
from ..pretrained import check_pretrained, component_lr_mult, weight_record
from ..registry import Registry
from ..run_identity import config_hash
from ..store.atomic import write_json
from ..store.files import number_table, read_json_file
from ..store.per_query import PER_QUERY
from ..store.record import LAST, RECORD, UNTRAINED, new_record
from ..trackers import check_trackers
from .checkpoint import load_checkpoint
from .device_check import check_device
from .distributed import WorldInfo, world_info
from .evaluate import EvalSettings, evaluate, evaluate_with_collapse
from .fingerprint import digest, module_digest
from .model import RetrievalModel
from .optim import plan_groups
from .provenance import component_plugins, environment, text_augmentation
from .runlog import RunLog
from .tracking import NoTracking, RunTracking, status_of, tracked_run
from .train import BEST, Trainer, TrainSettings, TrainState, peak_memory_bytes

#: The splits a run uses (a dataset may have more, e.g. Flickr8k's captioned but unlisted images).
RUN_SPLITS = ("train", "val", "test")
#: Offset of the losses' random stream from the run seed (any constant: it only has to differ).
LOSS_STREAM = 104_729


def resolve_device(name: str) -> torch.device:
    """``auto``: this process's GPU when there is one (its local rank under torchrun), else the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"device: {exc}") from None
    return check_device(device, name)


def init_distributed(device: torch.device):
    """Join the process group torchrun describes (``WORLD_SIZE`` > 1); NCCL on GPUs, gloo on CPUs."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.distributed.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return world_info()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextmanager
def own_stream(seed: int) -> Iterator[None]:
    """Run the block on a torch random stream seeded with ``seed``; the outer stream is untouched.

    Encoders are built on ``own_stream(seed)`` so seed k gives every run of a suite the same
    initial weights, whatever was drawn before (dataset preparation, a cache miss); losses are
    built on their own, so a loss's parameters (a classifier, a temperature) never shift the
    stream the encoders or dropout draw from.
    """
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@dataclass
class Built:
    """The objects of a run."""

    prepared: PreparedDataset
    model: RetrievalModel
    stage_losses: list[dict[str, Loss]]
    tokens: dict[str, CaptionTokens]
    lr_mult_defaults: dict[str, float]
    #: The name the run's results carry (the dataset's own, else its registered name).
    dataset_name: str
    #: the negative sampler of the stages whose losses need one (None: no such loss)
    negatives: NegativeChoice | None = None
    #: whether training views may flip images (``Dataset.flip_safe``)
    flip_safe: bool = True


def build(config: RunConfig, registry: Registry, where: str, progress: bool = True) -> Built:
    """Dataset (prepared), encoders, losses per stage, and every split's caption tokens."""
    check_components(config, registry, where)
    check_pretrained(config, registry, where)
    root = Path(config.root).expanduser() if config.root else None
    dataset = registry.build("dataset", config.dataset, root, options=config.dataset_options, where=where,
                             key="dataset_options")
    if config.images_per_split is not None:
        dataset = HeadSubset(dataset, config.images_per_split)
    prepared = prepare(dataset, cache_dir(config.cache_dir), config.image_size, progress=progress)
    train = prepared.split("train")
    captions = [c for image_captions in train.table["captions"] for c in image_captions]
    context = EncoderContext(embed_dim=config.embed_dim, train_captions=captions, text=prepared.text,
                             image_size=config.image_size, hints=dict(prepared.hints), seed=config.seed)
    with own_stream(config.seed):  # image first, then text: a fixed order on a stream of their own
        image = registry.build("image_encoder", config.image_encoder, context, options=config.image_options,
                               where=where, key="image_options")
        text = registry.build("text_encoder", config.text_encoder, context, options=config.text_options,
                              where=where, key="text_options")
    if image.output_dim != text.output_dim:
        raise ConfigError(f"{where}: image encoder gives {image.output_dim}-d and text encoder {text.output_dim}-d "
                          "embeddings; set embed_dim to project both to one size")
    loss_context = LossContext(embed_dim=image.output_dim, num_instances=max(train.table["instance_id"]) + 1)
    names = sorted({name for stage in config.stages for name in stage.losses})
    with own_stream(config.seed + LOSS_STREAM):
        losses = {name: registry.build("loss", name, loss_context, options=config.loss_options.get(name, {}),
                                       where=where, key=f"loss_options.{name}")
                  for name in names}
    for name, loss in losses.items():
        check_declared_layout(registry.get("loss", name), config.loss_options.get(name, {}), loss)
    stage_losses = [{name: losses[name] for name in stage.losses} for stage in config.stages]
    model = RetrievalModel(image, text, losses)
    lr_mult_defaults = component_lr_mult(config, registry)
    negatives = resolve_negatives(config, registry, dataset.hints, stage_losses, where)
    tokens = {name: CaptionTokens.build(prepared.split(name).table["captions"], text.tokenizer)
              for name in RUN_SPLITS if name in prepared.splits}
    return Built(prepared, model, stage_losses, tokens, lr_mult_defaults, dataset.label(config.dataset), negatives,
                 flip_safe=dataset.flip_safe)


def resolve_negatives(config: RunConfig, registry: Registry, hints: Mapping[str, Any],
                      stage_losses: list[dict[str, Loss]], where: str) -> NegativeChoice | None:
    """The negative sampler for losses that read anchor k's negative from slot B/2 + k: the
    run's ``negatives``, else the dataset's hint; a run that needs one and names none is refused."""
    users = sorted({name for losses in stage_losses for name, loss in losses.items() if needs_negatives([loss])})
    if not users:
        return None
    name, source = config.negatives, "run"
    if name is None:
        name, source = hints.get("negatives"), f"dataset {config.dataset}"
    check_paired(config, users, name, registry.names("negative_sampler"), where)
    check_registered(registry, "negative_sampler", name, where, "negatives")
    sampler = registry.build("negative_sampler", name, options=config.negative_options, where=where,
                             key="negative_options")
    return NegativeChoice(name, dict(config.negative_options), source, sampler)


def _autocast(config: RunConfig, device: torch.device):
    if config.precision == "bf16" and device.type == "cuda":
        return partial(torch.autocast, device_type="cuda", dtype=torch.bfloat16)
    return nullcontext


def train_run(config: RunConfig, registry: Registry, out_dir: Path | str, *, where: str = "run",
              progress: bool = True, context: Mapping[str, Any] | None = None,
              report_to: Sequence[str] = (), on_epoch: Callable[[dict[str, Any]], None] | None = None
              ) -> dict[str, Any]:
    """Train ``config`` into ``out_dir`` (resuming what is there) and return its run record.

    ``train.log`` in ``out_dir`` tells the run in lines, including the reason of a failure.
    ``report_to`` names experiment trackers that follow the run (engine/tracking.py); they are
    not part of the run's config, so choosing them changes neither its identity nor its numbers.
    ``on_epoch`` sees each finished epoch's history entry (a tuning trial reports its validation
    scores to a pruner there; what it raises ends the run like any failure).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log = RunLog(out_dir, enabled=int(os.environ.get("RANK", "0")) == 0)  # before the process group exists
    resuming = (out_dir / LAST).exists()
    log.write(f"{'resuming' if resuming else 'starting'} {where}: seed {config.seed}, config {config_hash(config)}")
    tracking: NoTracking | None = None
    try:  # from the first line on, whatever stops the run (Ctrl-C while trackers start too) is logged
        tracking = RunTracking.create(check_trackers(report_to, registry), registry,
                                      tracked_run(out_dir, config, context, git_commit()))
        record = _train(config, registry, out_dir, log, where=where, progress=progress, context=context,
                        tracking=tracking, on_epoch=on_epoch)
    except BaseException as exc:
        log.failed(exc)
        for line in tracking.finish(status_of(exc)) if tracking is not None else ():
            log.write(line)
        raise
    for line in tracking.finish(status_of(None), record, config):
        log.write(line)
    log.write(f"finished: best val epoch {record['best_epoch']}; "
              f"{'test ' + _summary(record['test']) if 'test' in record else 'not scored on test'}"
              f"{'; DEGENERATE embeddings' if record['degenerate'] else ''}")
    return record


def _summary(metrics: Mapping[str, float]) -> str:
    return " ".join(f"{k} {v:.4g}" for k, v in DECLARED.ordered(metrics))


def check_selectable(name: str, protocol: str, dataset: str, where: str) -> None:
    """The selection metric is one the validation split's protocol reports (mAP is identity-only)."""
    metric = DECLARED.selection(name, where)
    if protocol not in metric.protocols:
        reported = [m.name for m in DECLARED if m.selectable and protocol in m.protocols]
        raise ConfigError(f"{where}: select_metric: {name!r} is not reported under dataset {dataset!r}'s "
                          f"{protocol} protocol; choose one of: {', '.join(reported)}")


def _train(config: RunConfig, registry: Registry, out_dir: Path, log: RunLog, *, where: str, progress: bool,
           context: Mapping[str, Any] | None, tracking: NoTracking = NoTracking(),
           on_epoch: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """The recipe: build, fit (selecting on validation), test the selected weights once, record."""
    started = time.perf_counter()
    git_commit()  # pin the commit this process runs
    run = _build_placed(config, registry, where, progress)
    untrained = _untrained_metrics(out_dir, run) if config.untrained_baseline and config.score_test else None
    fitted = _fit(config, run, out_dir, log, where=where, progress=progress, tracking=tracking, on_epoch=on_epoch)
    test, test_collapse = _test(config, run, out_dir) if config.score_test else ({}, None)
    record = new_record(
        context or {},
        which=_which_run(config, run),
        what_ran=_what_ran(config, run, fitted),
        results=_results(config, fitted, test, test_collapse, untrained),
        cost=_cost(config, registry, run, fitted, time.perf_counter() - started),
        scored_test=config.score_test)
    if run.world.rank == 0:
        write_json(out_dir / RECORD, record)
    return record


@dataclass(frozen=True)
class PlacedRun:
    """A built run on its device, with the settings every evaluation of it shares."""

    built: Built
    #: the model on its device (batch norm synchronised when data-parallel on GPUs)
    model: RetrievalModel
    #: the module whose forward computes the objective: the model, or its DDP wrapper
    train_module: torch.nn.Module
    device: torch.device
    world: WorldInfo
    autocast: Callable[[], Any]
    evaluation: EvalSettings
    #: digests of the encoders' initial weights (seed k of every run must start alike)
    init_digest: dict[str, str]

    @property
    def prepared(self) -> PreparedDataset:
        return self.built.prepared


def _build_placed(config: RunConfig, registry: Registry, where: str, progress: bool) -> PlacedRun:
    """Seed, join the processes, :func:`build`, move to the device, and check the splits it scores."""
    seed_everything(config.seed)
    device = resolve_device(config.device)
    world = init_distributed(device)
    built = build(config, registry, where, progress)
    init_digest = {"image": module_digest(built.model.image), "text": module_digest(built.model.text)}
    seed_everything(config.seed)  # dropout draws start alike in every run of the seed
    model = built.model.to(device)
    if device.type == "cuda" and config.channels_last:
        model.image.to(memory_format=torch.channels_last)
    if config.compile:
        model.image.compile()
        model.text.compile()
    autocast = _autocast(config, device)
    model, train_module = _data_parallel(model, device, world)
    _check_scored_splits(config, built, where)
    return PlacedRun(built, model, train_module, device, world, autocast,
                     EvalSettings.of(config, device, autocast), init_digest)


def _data_parallel(model: RetrievalModel, device: torch.device, world: WorldInfo
                   ) -> tuple[RetrievalModel, torch.nn.Module]:
    """The model and the module training calls: itself, or under several processes its DDP
    wrapper (on GPUs with batch norm synchronised across them)."""
    if not world.distributed:
        return model, model
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model, DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None,
                                          find_unused_parameters=True)


def _check_scored_splits(config: RunConfig, built: Built, where: str) -> None:
    """The dataset has the splits a run scores, and validation reports the selection metric."""
    prepared = built.prepared
    if "val" not in prepared.splits or "test" not in prepared.splits:
        raise ConfigError(f"{where}: dataset {built.dataset_name!r} needs train, val and test splits "
                          f"(has {', '.join(prepared.splits)})")
    check_selectable(config.select_metric, prepared.split("val").protocol.value, built.dataset_name, where)


@dataclass(frozen=True)
class Fitted:
    """What training left: its state (best epoch, history), the feed and the per-stage negative mining."""

    state: TrainState
    feed: TrainFeed
    stage_negatives: list[NegativeMining | None]
    first_batch_digest: str | None


def _fit(config: RunConfig, run: PlacedRun, out_dir: Path, log: RunLog, *, where: str, progress: bool,
         tracking: NoTracking, on_epoch: Callable[[dict[str, Any]], None] | None) -> Fitted:
    """Train every stage, selecting the best epoch on validation (resuming what ``out_dir`` holds)."""
    built, model = run.built, run.model
    feed = _train_feed(config, run)
    log.write(f"feed: {feed.plan.path} ({feed.plan.reason})")
    first = feed.first_batch()  # deterministic per (seed, epoch): drawing it changes nothing
    first_digest = None if first is None else digest([first.images, first.token_ids, first.instance_ids])
    stage_negatives = [NegativeMining(built.negatives.name, built.negatives.sampler, EvalEmbedder(model, run.autocast))
                       if built.negatives is not None and needs_negatives(losses.values()) else None
                       for losses in built.stage_losses]
    settings = TrainSettings(stages=config.stages, batch_size=config.batch_size, evaluation=run.evaluation,
                             eval_every=config.eval_every, where=where, lr_mult_defaults=built.lr_mult_defaults,
                             select_metric=config.select_metric)
    trainer = Trainer(model, built.stage_losses, feed, (run.prepared.split("val"), built.tokens["val"]), settings,
                      out_dir, run.device, autocast=run.autocast, train_module=run.train_module, progress=progress,
                      extra_state={"config": config.as_dict(), "data_fingerprint": run.prepared.fingerprint},
                      stage_negatives=stage_negatives,
                      on_epoch=partial(_each_epoch, log, [stage.epochs for stage in config.stages], on_epoch),
                      tracking=tracking)
    state = trainer.fit()
    if run.world.distributed:
        torch.distributed.barrier()  # rank 0 writes best/; the others read it
    return Fitted(state, feed, stage_negatives, first_digest)


def _train_feed(config: RunConfig, run: PlacedRun) -> TrainFeed:
    """The training batches: this process's shard of each epoch, as the config samples and augments them."""
    return TrainFeed(run.prepared.split("train"), run.built.tokens["train"], batch_size=config.batch_size,
                     image_size=config.image_size, device=run.device, seed=config.seed, sampler=config.sampler,
                     samples_per_identity=config.samples_per_identity, transform=config.train_transform,
                     augment_ids=run.model.text.augment_ids if config.text_augment else None,
                     workers=config.workers, memory_fraction=config.feed_memory_fraction,
                     rank=run.world.rank, world_size=run.world.size, flip=run.built.flip_safe)


def _test(config: RunConfig, run: PlacedRun, out_dir: Path) -> tuple[dict[str, float], dict[str, float]]:
    """The test split's metrics and collapse measures under the selected (best-on-val) weights,
    every query's results kept beside the record."""
    best, _ = load_checkpoint(out_dir / BEST, device=run.device)
    run.model.load_state_dict(best["model"])
    return evaluate_with_collapse(run.model, run.prepared.split("test"), run.built.tokens["test"], run.evaluation,
                                  queries_to=out_dir / PER_QUERY if run.world.rank == 0 else None)


# ---- the record's parts, in the order of :class:`~itr_bench.store.record.RunRecord`'s sections ----


def _which_run(config: RunConfig, run: PlacedRun) -> dict[str, Any]:
    test = run.prepared.split("test")
    return {"run": config.name, "dataset": run.built.dataset_name, "protocol": test.protocol.value,
            "folds": test.folds, "seed": config.seed, "image_encoder": config.image_encoder,
            "text_encoder": config.text_encoder}


def _what_ran(config: RunConfig, run: PlacedRun, fitted: Fitted) -> dict[str, Any]:
    built, model = run.built, run.model
    objective = [{"epochs": s.epochs, "losses": s.losses, "term_weights": s.term_weights, "lr_mult": s.lr_mult,
                  "inputs": loss_inputs(losses), "lr_groups": stage_multipliers(model, s, built.lr_mult_defaults),
                  **({"negatives": mining.name} if mining is not None else {})}
                 for s, losses, mining in zip(config.stages, built.stage_losses, fitted.stage_negatives)]
    return {
        "objective": objective,
        "features_view": {"image": model.image.features_view(), "text": model.text.features_view()},
        "weights": weight_record(model.image, model.text),
        "negatives": built.negatives.describe() if built.negatives is not None else None,
        "feed": fitted.feed.plan.as_record(),
        "augmentation": {"image_train": fitted.feed.image_augmentation,
                         "image_test": test_view(run.prepared.split("test"), config.image_size, config.test_transform),
                         "text": text_augmentation(model.text, config.text_augment)},
        "encoders": {"image": model.image.provenance(), "text": model.text.provenance()},
        "epochs": config.total_epochs,
    }


def _results(config: RunConfig, fitted: Fitted, test: dict[str, float], test_collapse: dict[str, float] | None,
             untrained: dict[str, float] | None) -> dict[str, Any]:
    state = fitted.state
    return {
        "best_epoch": state.best_epoch + 1,
        "select_metric": config.select_metric,
        "test": test,
        "val": state.best,
        "untrained": untrained,
        "degenerate": bool(is_degenerate(state.best_collapse) or is_degenerate(test_collapse)),
        "collapse": {"rule": COLLAPSE_RULE, "val": state.best_collapse, "test": test_collapse},
        "history": state.history,
        "stage_start_terms": state.stage_start_terms,
    }


def _cost(config: RunConfig, registry: Registry, run: PlacedRun, fitted: Fitted, wall_seconds: float
          ) -> dict[str, Any]:
    state = fitted.state
    return {
        "init_digest": run.init_digest,
        "first_batch_digest": fitted.first_batch_digest,
        "train_pairs_per_second": state.pairs / state.train_seconds if state.train_seconds else None,
        "train_seconds": state.train_seconds,
        "wall_seconds": wall_seconds,
        "peak_memory_bytes": peak_memory_bytes(run.device),
        "device": _device_name(run.device),
        "world_size": run.world.size,
        "itr_bench_version": __version__,
        "git_commit": git_commit(),
        "plugins": component_plugins(registry, config),
        "environment": environment(run.device, run.world.size),
        "config": config.as_dict(),
        "config_hash": config_hash(config),
        "data_fingerprint": run.prepared.fingerprint,  # what was read (itr_bench/data/identity.py)
    }


def _each_epoch(log: RunLog, epochs: list[int], then: Callable[[dict[str, Any]], None] | None,
                entry: dict[str, Any]) -> None:
    log.epoch(entry, epochs)
    if then is not None:
        then(entry)


def loss_inputs(losses: Mapping[str, Loss]) -> dict[str, str]:
    """The view each loss trained on (``normalized``, ``embedding``, ``features``), for the record."""
    return {name: Inputs(loss.inputs).value for name, loss in losses.items()}


def _untrained_metrics(out_dir: Path, run: PlacedRun) -> dict[str, float]:
    """Test metrics of the model before any training: the chance level to show beside results."""
    path = out_dir / UNTRAINED
    if path.exists():  # a damaged one is one line naming it (delete it to measure again)
        return number_table(read_json_file(path), path, "metrics", finite=True)
    metrics = evaluate(run.model, run.prepared.split("test"), run.built.tokens["test"], run.evaluation)
    if world_info().rank == 0:
        write_json(path, metrics)
    return metrics


def stage_multipliers(model: RetrievalModel, stage, defaults: Mapping[str, float]) -> dict[str, float]:
    """Each parameter group's effective learning-rate multiplier in ``stage`` (0: frozen), for the record."""
    return {plan.name: plan.lr_mult for plan in plan_groups(model.param_groups(), stage.lr_mult, defaults)}


@functools.cache
def git_commit() -> str | None:
    """The commit of the itr-bench source tree this process imported (``-dirty`` with local edits).

    Cached at the first call, which :func:`train_run` makes as it starts, so a commit made while a
    long suite runs does not relabel its later records.
    """
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=40"],
                             cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
