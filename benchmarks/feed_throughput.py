"""Can the feed keep a model busy? Streaming (0 vs N workers) and device-path images/s, epoch vs step.

Measured in one run, from a prepared cache of a real dataset, each against the bare JPEG
decode rate of the same machine at the same moment (one thread):

  * ``decode``: ``decode_jpeg`` alone, one image at a time, one thread: the floor every path pays;
  * ``stream_<w>_workers``: a training epoch's images from the streaming feed (decode, square,
    the paper's crop + flip, normalise) with 0 workers (all in this process, one thread) and
    with ``--workers`` worker processes;
  * ``ceiling_<w>_processes``: ``--workers`` separate processes each running the 0-worker epoch
    at once, their images/s summed: what this machine gives that many copies of the same work
    (shared caches and memory bandwidth included), the most the workers could reach;
  * ``device``: the device-resident feed (one batched crop per step; nothing decoded);
  * ``epoch_vs_step``: a small model (``--model``, timm) trained for one epoch from each feed,
    divided by the same number of steps on one fixed batch (``--model-trials`` times): above 1 is
    time spent waiting for data, or, on a CPU, the cores the feed takes from the model.

A shared cloud VM's rate moves by 20-40% from one second to the next, so the rates are measured
``--trials`` times, the paths taking turns, and reported as the median and the range; each ratio
is the median of the ratios within a trial.

    python benchmarks/feed_throughput.py --root ../shared/datasets/flickr8k --out leaderboards/perf

takes about five minutes on 2 free cores (``--images 1024``, 224 px, 5 + 3 trials) and writes
``<out>/feed_throughput__<cpu>__<device>.json`` naming the machine (CPU model, cores, load
average at the start, torch version). Figures from a machine busy with other work are not
comparable: the JSON records ``load_average`` so a reader can tell.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import torchvision

from itr_bench.data.prepare import prepare
from itr_bench.data.subset import HeadSubset
from itr_bench.feed.device import decode_all, jpeg_tensors
from itr_bench.feed.feeding import CaptionTokens, TrainFeed
from itr_bench.feed.placement import FeedPlan
from itr_bench.plugins import get_plugin_manager, load_registry
from itr_bench.store.atomic import write_json


def machine(device: torch.device) -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": cores, "load_average": [round(x, 2) for x in os.getloadavg()],
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "torch": torch.__version__, "torchvision": torchvision.__version__, "python": platform.python_version()}


def progress(name: str, value):
    """``value``, said on stderr as it is measured (a long run shows where it is)."""
    print(f"measured {name}: {value if isinstance(value, dict) else round(value, 1)}", file=sys.stderr, flush=True)
    return value


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def decode_rate(split) -> float:
    """Images/s of ``decode_jpeg`` alone on the cached JPEGs, one image per call, one thread."""
    data = jpeg_tensors(split.table["image"])
    decode_all(data[:8])  # warm-up
    start = time.perf_counter()
    for item in data:
        decode_all([item])
    return len(data) / (time.perf_counter() - start)


def make_feed(split, tokens, args, device: torch.device, path: str, workers: int) -> TrainFeed:
    return TrainFeed(split, tokens, batch_size=args.batch, image_size=args.image_size, device=device, seed=0,
                     plan=FeedPlan(path, 0, 0, "benchmark", workers))


def feed_rate(feed: TrainFeed, device: torch.device, epoch: int = 1) -> float:
    """Images/s over one epoch (the workers started by a first batch loaded on its own)."""
    feed.first_batch()
    synchronize(device)
    start, images = time.perf_counter(), 0
    for batch in feed.epoch(epoch):
        images += len(batch.images)
    synchronize(device)
    return images / (time.perf_counter() - start)


def _twin(feed: TrainFeed, device: torch.device, epoch: int, start, results) -> None:
    feed.first_batch()  # warm, then start together with the other copies
    start.wait()
    results.put(feed_rate(feed, device, epoch))


def parallel_rate(feed: TrainFeed, device: torch.device, processes: int, epoch: int = 1) -> float | None:
    """Images/s of ``processes`` forked copies of ``feed`` running one epoch each at the same time, summed."""
    if "fork" not in multiprocessing.get_all_start_methods() or device.type != "cpu":
        return None
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(processes), context.Queue()
    children = [context.Process(target=_twin, args=(feed, device, epoch, start, results)) for _ in range(processes)]
    for child in children:
        child.start()
    total = sum(results.get() for _ in children)
    for child in children:
        child.join()
    return total


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def epoch_vs_step(feed: TrainFeed, model_name: str, classes: int, device: torch.device,
                  trials: int) -> dict[str, Any]:
    """One training epoch from ``feed`` over the same number of steps on one fixed batch, ``trials`` times."""
    import timm

    model = timm.create_model(model_name, num_classes=classes).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(images, labels):
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def timed(batches) -> float:
        synchronize(device)
        start = time.perf_counter()
        for batch in batches:
            step(batch.images, batch.instance_ids)
        synchronize(device)
        return time.perf_counter() - start

    fixed = feed.first_batch()
    step(fixed.images, fixed.instance_ids)  # warm-up (and the workers' start)
    steps = feed.batches()
    step_only, epoch = [], []
    for trial in range(trials):
        step_only.append(timed([fixed] * steps))
        epoch.append(timed(feed.epoch(trial + 1)))
    return {"steps": steps, "step_only_seconds": summary(step_only), "epoch_seconds": summary(epoch),
            "epoch_vs_step": summary([e / s for e, s in zip(epoch, step_only)])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="flickr8k")
    parser.add_argument("--root", type=Path, default=None)
    parser.add_argument("--images", type=int, default=1024, help="first N images of the training split")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="the streaming run compared with 0 workers")
    parser.add_argument("--trials", type=int, default=5, help="times each rate is measured, the paths taking turns")
    parser.add_argument("--model", default="mobilenetv3_small_100", help="timm model for the epoch-vs-step figure ('' skips it)")
    parser.add_argument("--model-trials", type=int, default=3, help="times the epoch and the step-only run are timed")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "itr-bench-feed-throughput")
    parser.add_argument("--out", type=Path, default=None, help="folder for the JSON result (default: print only)")
    args = parser.parse_args()

    device = torch.device(args.device)
    registry = load_registry(get_plugin_manager(load_entrypoints=False))
    dataset = HeadSubset(registry.create("dataset", args.dataset, args.root), args.images)
    split = prepare(dataset, args.cache_dir, args.image_size, progress=False).split("train")
    tokens = CaptionTokens.build(split.table["captions"], lambda caps: torch.zeros(len(caps), 1, dtype=torch.long))
    result: dict[str, Any] = {"machine": machine(device), "dataset": args.dataset, "images": len(split),
                              "image_size": args.image_size, "batch": args.batch}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # decoding and the 0-worker stream on one core, as each worker runs
    serial = make_feed(split, tokens, args, device, "stream", 0)
    feeds = {"stream_0_workers": serial}
    if args.workers:
        feeds[f"stream_{args.workers}_workers"] = make_feed(split, tokens, args, device, "stream", args.workers)
    trials: dict[str, list[float]] = {"decode": []}
    for trial in range(args.trials):
        trials["decode"].append(decode_rate(split))
        for name, feed in feeds.items():
            trials.setdefault(name, []).append(feed_rate(feed, device, trial + 1))
        if args.workers:
            ceiling = parallel_rate(serial, device, args.workers, trial + 1)
            if ceiling is not None:
                trials.setdefault(f"ceiling_{args.workers}_processes", []).append(ceiling)
        progress(f"trial {trial + 1}/{args.trials}", {name: round(values[-1]) for name, values in trials.items()})
    torch.set_num_threads(threads)
    device_feed = make_feed(split, tokens, args, device, "device", 0)
    trials["device"] = [feed_rate(device_feed, device, trial + 1) for trial in range(args.trials)]
    rates = {name: summary(values) for name, values in trials.items()}
    result["trials"] = args.trials
    result["images_per_second"] = rates
    result["vs_decode"] = {name: rate["median"] / rates["decode"]["median"] for name, rate in rates.items()
                           if name != "decode"}
    if args.workers:
        base = trials["stream_0_workers"]
        for name in (f"stream_{args.workers}_workers", f"ceiling_{args.workers}_processes"):
            if name in trials:
                key = "workers_speedup" if name.startswith("stream") else "ceiling_speedup"
                result[key] = summary([value / b for value, b in zip(trials[name], base)])
    if args.model:
        classes = max(split.table["instance_id"]) + 1
        result["epoch_vs_step"] = {"model": args.model}
        for name, path, workers in ((f"stream_{args.workers}_workers", "stream", args.workers), ("device", "device", 0)):
            figures = epoch_vs_step(make_feed(split, tokens, args, device, path, workers), args.model, classes, device,
                                    args.model_trials)
            result["epoch_vs_step"][name] = progress(f"epoch / step-only, {name}", figures)
    print(_lines(result))
    if args.out:
        name = "__".join(re.sub(r"[^A-Za-z0-9]+", "-", result["machine"][k]).strip("-").lower() for k in ("cpu", "device"))
        write_json(args.out / f"feed_throughput__{name}.json", result)


def _lines(result: dict[str, Any]) -> str:
    m = result["machine"]
    out = [f"{m['cpu']}, {m['cores']} cores, load {m['load_average']}, {m['device']}, torch {m['torch']}; "
           f"{result['dataset']} {result['images']} images at {result['image_size']} px, batch {result['batch']}, "
           f"median (range) of {result['trials']} trials"]
    for name, rate in result["images_per_second"].items():
        ratio = "" if name == "decode" else f"  ({result['vs_decode'][name]:.2f}x the decode rate)"
        out.append(f"  {name:>20}: {rate['median']:8.1f} images/s ({rate['min']:.0f}-{rate['max']:.0f}){ratio}")
    for key, label in (("workers_speedup", "workers speed-up"), ("ceiling_speedup", "same work in separate processes")):
        if key in result:
            figure = result[key]
            out.append(f"  {label}: {figure['median']:.2f}x ({figure['min']:.2f}-{figure['max']:.2f})")
    for name, figures in (result.get("epoch_vs_step") or {}).items():
        if isinstance(figures, dict):
            ratio = figures["epoch_vs_step"]
            out.append(f"  epoch / step-only ({result['epoch_vs_step']['model']}, {name}): "
                       f"{figures['epoch_seconds']['median']:.1f}s / {figures['step_only_seconds']['median']:.1f}s, "
                       f"ratio {ratio['median']:.2f} ({ratio['min']:.2f}-{ratio['max']:.2f})")
    return "\n".join(out)


if __name__ == "__main__":
    main()
