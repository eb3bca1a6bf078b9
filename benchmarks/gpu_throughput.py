"""Train-step throughput of the paper's dual-path model against the bare timm ResNet-50 (the ceiling).

Measured in one process, on one card, with the same settings for both (batch 128, 224 px, bf16
autocast, channels_last, torch.compile): the ratio is what the dual-path engine costs over the
trunk alone. The dual-path step is the paper's Stage II (ranking 2 : instance 1) on a paired
batch: B/2 anchors, then in slot B/2+k the negative the dataset's sampler chose for anchor k
(the hardest of 256 captions for Flickr and COCO), as the paper's ranking form requires. Then a
full epoch from the prepared cache (the feed ``plan_feed`` chooses: device-resident for Flickr8k)
with that mining, against the step-only rate: the ratio is what feeding and mining cost (the
epoch's batches and mining alone are timed too, ``feed_and_mining_pairs_per_s``).

    python benchmarks/gpu_throughput.py --root ../shared/datasets/flickr8k --out leaderboards/perf
    python benchmarks/gpu_throughput.py --device cpu --batch 8 --image-size 64 --steps 2 --no-compile \\
        --dataset synthetic -o train=32 -o val=8 -o test=8 --image-encoder-width 0.25 --text-width 0.25

Targets: dual-path >= 0.85x the bare ResNet-50 rate; epoch >= 0.9x the step-only rate.
Writes ``<out>/gpu_throughput__<card>.json`` and prints one line per figure.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

from itr_bench.api import EncoderContext, LossContext
from itr_bench.commands import parse_option
from itr_bench.data.prepare import prepare
from itr_bench.engine.model import RetrievalModel
from itr_bench.feed.feeding import CaptionTokens, TrainFeed
from itr_bench.feed.negatives import EvalEmbedder, NegativeMining
from itr_bench.plugins import get_plugin_manager, load_registry
from itr_bench.store.atomic import write_json


def timed(step, steps: int, warmup: int, device: torch.device) -> float:
    """Seconds per call of ``step`` after ``warmup`` calls (compilation happens there)."""
    for _ in range(warmup):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return (time.perf_counter() - start) / steps


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="flickr8k")
    parser.add_argument("--root", default=None)
    parser.add_argument("-o", "--dataset-option", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--image-encoder-width", type=float, default=1.0)
    parser.add_argument("--text-width", type=float, default=1.0)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--out", default=None, help="Folder for the JSON result (default: print only).")
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    autocast = (partial(torch.autocast, device_type="cuda", dtype=torch.bfloat16)
                if device.type == "cuda" else nullcontext)
    registry = load_registry(get_plugin_manager())
    dataset = registry.create("dataset", args.dataset, Path(args.root) if args.root else None,
                              **dict(map(parse_option, args.dataset_option)))
    cache = Path(args.cache_dir) if args.cache_dir else Path(tempfile.mkdtemp(prefix="itr-gpu-"))
    prepared = prepare(dataset, cache, args.image_size)
    train = prepared.split("train")
    captions = [c for caps in train.table["captions"] for c in caps]
    context = EncoderContext(train_captions=captions, text=prepared.text, image_size=args.image_size,
                             hints=dict(prepared.hints))
    image = registry.create("image_encoder", "dualpath-image", context, width=args.image_encoder_width)
    text = registry.create("text_encoder", "dualpath-textcnn", context, width=args.text_width, word2vec=None)
    losses = {name: registry.create("loss", name, LossContext(image.output_dim, max(train.table["instance_id"]) + 1),
                                    **options)
              for name, options in (("instance", {}), ("ranking", {"form": "paper", "reduction": "mean"}))}
    model = RetrievalModel(image, text, losses).to(device)
    if device.type == "cuda":
        model.image.to(memory_format=torch.channels_last)
    if not args.no_compile:
        model.image.compile()
        model.text.compile()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
    tokens = CaptionTokens.build(train.table["captions"], text.tokenizer)
    feed = TrainFeed(train, tokens, batch_size=args.batch, image_size=args.image_size, device=device, seed=0)
    sampler_name = prepared.hints.get("negatives", "hardest")  # the paper's form reads slot B/2+k
    mining = NegativeMining(sampler_name, registry.create("negative_sampler", sampler_name),
                            EvalEmbedder(model, autocast))
    batch = next(iter(feed.epoch(0, mining)))
    weights = {"ranking": 2.0, "instance": 1.0}

    def dual_step():
        with autocast():
            total, _ = model(batch.images, batch.token_ids, batch.instance_ids, losses=losses, weights=weights)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()

    import timm

    bare = timm.create_model("resnet50", num_classes=1000).to(device)
    if device.type == "cuda":
        bare.to(memory_format=torch.channels_last)
    if not args.no_compile:
        bare.compile()
    bare_optimizer = torch.optim.SGD(bare.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    images = batch.images.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else batch.images
    labels = batch.instance_ids % 1000

    def bare_step():
        with autocast():
            loss = F.cross_entropy(bare(images), labels)
        bare_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        bare_optimizer.step()

    results = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
               "batch": args.batch, "image_size": args.image_size, "compiled": not args.no_compile,
               "precision": "bf16" if device.type == "cuda" else "fp32", "torch": torch.__version__,
               "negatives": sampler_name, "feed": feed.plan.as_record()}
    results["bare_resnet50_img_per_s"] = args.batch / timed(bare_step, args.steps, args.warmup, device)
    results["dualpath_pairs_per_s"] = args.batch / timed(dual_step, args.steps, args.warmup, device)
    results["dualpath_vs_bare"] = results["dualpath_pairs_per_s"] / results["bare_resnet50_img_per_s"]

    def epoch():
        for item in feed.epoch(1, mining):
            with autocast():
                total, _ = model(item.images, item.token_ids, item.instance_ids, losses=losses, weights=weights)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()

    def feed_only():  # the epoch's batches and their mining, no training step
        for item in feed.epoch(2, mining):
            item.images.sum()

    pairs = feed.batches() * args.batch
    results["epoch_pairs_per_s"] = pairs / timed(epoch, 1, 0, device)
    results["epoch_vs_step"] = results["epoch_pairs_per_s"] / results["dualpath_pairs_per_s"]
    results["feed_and_mining_pairs_per_s"] = pairs / timed(feed_only, 1, 0, device)
    for key, value in results.items():
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
    results["load_average"] = list(os.getloadavg())
    if args.out:
        card = re.sub(r"[^A-Za-z0-9]+", "-", results["device"]).strip("-").lower()
        write_json(Path(args.out) / f"gpu_throughput__{card}.json", results)


if __name__ == "__main__":
    main()
