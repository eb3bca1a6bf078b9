"""The balance between a two-stage run's terms as Stage II starts, for its ranking form and the paper's.

The paper's Stage II weights (ranking 2 : image instance 1 : text instance 0.1) were chosen for
its ranking loss: one negative per direction, margin 1.0, summed and divided by the batch
(``RankLoss.m`` and MatConvNet's trainer). A suite that trains another form (the VSE++ sum over
every in-batch negative) starts Stage II with a much larger ranking term, so the same weights
no longer test the paper's balance. This script measures by how much, on the suite's own model
and data:

1. it trains the run's Stage I exactly as ``itr-bench run`` does (same engine, same seed);
2. on the first ``--batches`` batches of Stage II, without updating anything, it evaluates the
   run's Stage II losses and the paper-form ranking loss (``form = "paper"``, margin 1.0,
   ``reduction = "mean"``, negatives = the second half of the batch) on the same embeddings;
3. it prints each term's mean, the ratio of the weighted ranking term to the weighted instance
   terms under each form, and ``factor`` = paper-form ranking / configured ranking: the ranking
   weight ``2 x factor`` gives the configured form the paper's ratio at the start of Stage II.

    python benchmarks/stage_balance.py plugins/itr_bench_dualpath/suites/quickstart.toml \\
        instance-then-ranking --seed 0 --batches 20
    python benchmarks/stage_balance.py leaderboards/configs/paper-ablation-flickr8k-cpu.toml \\
        instance-then-ranking --root ../shared/datasets/flickr8k

Stage I's checkpoints go to ``--work`` (a temporary folder by default).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import torch

from itr_bench.api import LossContext
from itr_bench.engine.checkpoint import load_checkpoint
from itr_bench.engine.feeding import TrainFeed
from itr_bench.engine.objective import objective
from itr_bench.engine.run import build, train_run
from itr_bench.engine.train import LAST
from itr_bench.plugins import get_plugin_manager, load_registry
from itr_bench.suites import expand, load_suite

PAPER_RANKING = {"form": "paper", "margin": 1.0, "reduction": "mean"}


def planned_config(suite: str, run: str, seed: int, root: str | None, registry):
    data, where = load_suite(suite, registry)
    dataset = data["suite"]["datasets"][0]
    extra = {dataset: {"root": root, "device": "cpu"}} if root else {dataset: {"device": "cpu"}}
    plans = expand(data, registry, where, Path(tempfile.gettempdir()), datasets=extra, seeds=[seed],
                   only_datasets=[dataset])
    matches = [p.config for p in plans if p.run == run]
    if not matches:
        raise SystemExit(f"{suite}: no run {run!r} ({', '.join(sorted({p.run for p in plans}))})")
    return matches[0]


def ranking_total(terms: dict[str, torch.Tensor]) -> float:
    return float(sum(v for k, v in terms.items() if k.startswith("ranking")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("suite")
    parser.add_argument("run")
    parser.add_argument("--root", default=None, help="the dataset's local folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batches", type=int, default=20, help="Stage II batches to average over")
    parser.add_argument("--work", type=Path, default=None, help="where Stage I is trained (default: a temp folder)")
    args = parser.parse_args()

    registry = load_registry(get_plugin_manager())
    config = planned_config(args.suite, args.run, args.seed, args.root, registry)
    if len(config.stages) < 2 or "ranking" not in config.stages[1].losses:
        raise SystemExit(f"{args.run}: not a two-stage run with a ranking loss in Stage II")
    work = args.work or Path(tempfile.mkdtemp(prefix="stage-balance-"))
    stage_one = dataclasses.replace(config, stages=config.stages[:1], untrained_baseline=False)
    train_run(stage_one, registry, work, progress=False)

    built = build(config, registry, "stage-balance", progress=False)
    state, _ = load_checkpoint(work / LAST)
    built.model.load_state_dict(state["model"], strict=False)  # Stage I has every loss Stage II needs
    context = LossContext(embed_dim=built.model.image.output_dim,
                          num_instances=built.model.losses["instance"].classifier.out_features)
    paper = registry.get("loss", "ranking").create(context, **PAPER_RANKING)
    stage = config.stages[1]
    feed = TrainFeed(built.prepared.split("train"), built.tokens["train"], batch_size=config.batch_size,
                     image_size=config.image_size, device=torch.device("cpu"), seed=config.seed,
                     sampler=config.sampler, transform=config.train_transform,
                     augment_ids=built.model.text.augment_ids if config.text_augment else None,
                     flip=built.flip_safe)
    sums: dict[str, float] = {}
    count = 0
    built.model.train()  # as training sees it: dropout on, batch statistics
    with torch.no_grad():
        for batch in feed.epoch(stage_one.total_epochs):
            image, text = built.model(batch.images, batch.token_ids)
            _, configured = objective(built.stage_losses[1], stage.losses, image, text, batch.instance_ids,
                                      stage.term_weights)
            _, paper_terms = objective({"ranking": paper}, {"ranking": 1.0}, image, text, batch.instance_ids)
            values = {**{k: float(v) for k, v in configured.items()},
                      "ranking_configured": ranking_total(configured), "ranking_paper": ranking_total(paper_terms)}
            for key, value in values.items():
                sums[key] = sums.get(key, 0.0) + value
            count += 1
            if count == args.batches:
                break
    means = {k: v / count for k, v in sums.items()}
    weight = stage.losses["ranking"]
    instance = sum(means[t] * stage.losses["instance"] * stage.term_weights.get(t, 1.0)
                   for t in ("instance_image", "instance_text"))
    factor = means["ranking_paper"] / means["ranking_configured"]
    report = {
        "suite": args.suite, "run": args.run, "seed": args.seed, "batches": count,
        "ranking_form": config.loss_options.get("ranking", {}), "terms": means,
        "weighted_ranking_over_instance": {"configured": weight * means["ranking_configured"] / instance,
                                           "paper_form": weight * means["ranking_paper"] / instance},
        "factor": factor, "ranking_weight_for_the_paper_ratio": weight * factor,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
