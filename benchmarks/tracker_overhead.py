"""Does reporting to experiment trackers slow training? Step time with each tracker over step time without.

A small CPU run (the built-in dual-path encoders shrunk, synthetic data, ranking + InfoNCE so
every kind of scalar is sent) is measured two ways; the step time is the run record's
``train_seconds`` (the training loop, tracker calls included; validation and set-up left out)
over its optimizer steps.

* **In one run** (the target): one run reports to every tracker at once while the time spent in
  each tracker's calls from the training loop, and in the engine's own gathering of the values
  (learning rates, gradient norm, loss parameters), is clocked. The ratio for a tracker is
  (loop time without any reporting + the engine's part + that tracker's calls) / (loop time
  without any reporting). Other jobs on the machine slow both sides alike, so it holds on a
  shared machine.
* **A/B** (``--ab``): the same run without a tracker and with each one, taking turns over
  ``--repeats`` rounds; the ratio of the medians. On a busy machine its noise (several percent)
  exceeds the effect.

The target is a ratio of at most 1.05 in one run; exits 1 when a tracker is over it. Scalars are
sent at the trainer's logging interval (every 10 steps and at each epoch's end), where the trainer
reads its loss values anyway.

    python benchmarks/tracker_overhead.py --repeats 3 --ab
    python benchmarks/tracker_overhead.py --trackers tensorboard --width 0.125 --image-size 64
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

#: The most a tracker may add to the step time.
TARGET = 1.05
TRACKERS = ("tensorboard", "mlflow", "wandb")


def run_config(args: argparse.Namespace, cache: Path):
    from itr_bench.config import RunConfig, build

    data = {
        "name": "overhead", "dataset": "synthetic",
        "dataset_options": {"train": args.pairs, "val": 16, "test": 16, "image_size": args.image_size},
        "image_encoder": "dualpath-image", "image_options": {"backbone": "resnet18", "width": args.width},
        "text_encoder": "dualpath-textcnn",
        "text_options": {"width": args.width, "blocks": [1, 1, 1, 1], "word2vec": "train", "word2vec_min_count": 1,
                         "word2vec_epochs": 1},
        "image_size": args.image_size, "batch_size": args.batch, "device": "cpu", "cache_dir": str(cache),
        "untrained_baseline": False, "eval_every": args.epochs,
        "stages": [{"epochs": args.epochs, "losses": {"ranking": 1.0, "infonce": 1.0}, "lr": 0.01}],
        "loss_options": {"ranking": {"form": "vsepp-sum"}},
    }
    return build(RunConfig, data, "tracker_overhead")


def seconds_per_step(config, registry, folder: Path, trackers: list[str]) -> float:
    from itr_bench.engine.run import train_run

    record = train_run(config, registry, folder, progress=False, report_to=trackers)
    return record["train_seconds"] / sum(epoch["steps"] for epoch in record["history"])


def in_one_run(config, registry, folder: Path, trackers: list[str]) -> dict[str, float]:
    """Seconds of the training loop spent in each tracker's ``log_scalars``, in the engine's part of
    reporting, and in all (``loop``), over one run reporting to every tracker."""
    from itr_bench.engine import tracking
    from itr_bench.engine.run import train_run

    spent = {name: 0.0 for name in [*trackers, "engine"]}
    call, step = tracking.RunTracking._call, tracking.RunTracking.step

    def timed_call(self, name, what, method, *args):
        start = time.perf_counter()
        try:
            return call(self, name, what, method, *args)
        finally:
            if what == "log_scalars":
                spent[name] += time.perf_counter() - start

    def timed_step(self, *args, **kwargs):
        start, before = time.perf_counter(), sum(spent[name] for name in trackers)
        step(self, *args, **kwargs)
        spent["engine"] += time.perf_counter() - start - (sum(spent[name] for name in trackers) - before)

    tracking.RunTracking._call, tracking.RunTracking.step = timed_call, timed_step
    try:
        record = train_run(config, registry, folder, progress=False, report_to=trackers)
    finally:
        tracking.RunTracking._call, tracking.RunTracking.step = call, step
    return {**spent, "loop": record["train_seconds"], "steps": sum(e["steps"] for e in record["history"])}


def measure(args: argparse.Namespace, work: Path) -> tuple[dict[str, list[float]], list[dict[str, float]]]:
    from itr_bench.plugins import get_plugin_manager, load_registry
    from itr_bench.trackers import check_trackers

    registry = load_registry(get_plugin_manager(load_entrypoints=False))
    check_trackers(args.trackers, registry)
    config = run_config(args, work / "cache")
    seconds_per_step(config, registry, work / "warm-up", [])  # data preparation, word vectors, caches
    clocked = [in_one_run(config, registry, work / f"all-{index}", args.trackers) for index in range(args.repeats)]
    variants = {"none": [], **{name: [name] for name in args.trackers}} if args.ab else {}
    times: dict[str, list[float]] = {label: [] for label in variants}
    for round_index in range(args.repeats):
        for label, trackers in variants.items():
            folder = work / f"{label}-{round_index}"
            times[label].append(seconds_per_step(config, registry, folder, trackers))
            shutil.rmtree(folder, ignore_errors=True)
    return times, clocked


def one_run_ratios(clocked: list[dict[str, float]], trackers: list[str]) -> dict[str, float]:
    """Per tracker: the median over runs of (bare loop + engine + tracker) / bare loop."""
    ratios = {}
    for name in trackers:
        values = []
        for run in clocked:
            bare = run["loop"] - run["engine"] - sum(run[t] for t in trackers)
            values.append((bare + run["engine"] + run[name]) / bare)
        ratios[name] = statistics.median(values)
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trackers", default=",".join(TRACKERS), help="comma-separated trackers to compare")
    parser.add_argument("--repeats", type=int, default=3, help="runs clocked in one run (and A/B rounds)")
    parser.add_argument("--ab", action="store_true", help="also train without and with each tracker in turn")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=320, help="training pairs of the synthetic data")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--width", type=float, default=0.0625, help="channel width multiplier of the encoders")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    args.trackers = [name for name in args.trackers.split(",") if name]
    os.environ.setdefault("WANDB_MODE", "offline")
    import torch

    work = Path(tempfile.mkdtemp(prefix="tracker-overhead-"))
    try:
        times, clocked = measure(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratios = one_run_ratios(clocked, args.trackers)
    result = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(), "load_average": os.getloadavg()},
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "in_one_run": {"runs": clocked, "ratio": ratios},
    }
    per_step = statistics.median(run["loop"] / run["steps"] for run in clocked)
    print(f"in one run reporting to {', '.join(args.trackers)}: {per_step * 1000:.1f} ms per step, median of "
          f"{args.repeats} runs ({result['machine']['cores']} cores, load {result['machine']['load_average'][0]:.2f})")
    engine = statistics.median(run["engine"] / run["steps"] for run in clocked)
    print(f"  engine's part (values gathered once for all trackers): {engine * 1000:.2f} ms per step")
    for name, ratio in ratios.items():
        cost = statistics.median(run[name] / run["steps"] for run in clocked)
        print(f"  {name:<12} {cost * 1000:6.2f} ms per step  ratio {ratio:.4f}  {'ok' if ratio <= TARGET else f'OVER {TARGET}'}")
    if times:
        base = statistics.median(times["none"])
        result["ab"] = {"seconds_per_step": times,
                        "ratio": {label: statistics.median(v) / base for label, v in times.items() if label != "none"}}
        print(f"A/B, {args.repeats} rounds: {base * 1000:.1f} ms per step without a tracker (runs "
              + ", ".join(f"{v * 1000:.1f}" for v in times["none"]) + ")")
        for label, ratio in result["ab"]["ratio"].items():
            print(f"  {label:<12} ratio {ratio:.3f} (runs " + ", ".join(f"{v * 1000:.1f}" for v in times[label]) + ")")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(ratio <= TARGET for ratio in ratios.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
