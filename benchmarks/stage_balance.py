"""Each term's value and gradient norm on the shared embedding at the start of each stage of a run.

The balance between a stage's terms is about how hard each pulls on the embedding both paths
share, not about their values: an instance term at chance is a cross-entropy near ``ln C``
whatever the model does. For every stage of the run this script measures, on the stage's first
``--batches`` batches, without updating anything:

1. each term's mean value (unweighted) and the gradient norm of its *weighted* value on the
   image and text embeddings together (``itr_bench.engine.balance``), and the same for each
   loss's weighted sum of terms;
2. for a stage with the ranking loss, the paper's form of it (``form = "paper"``, margin 1.0,
   ``reduction = "mean"``, negatives = the second half of the batch) at the paper's weight 2,
   on the same embeddings;
3. the weighted ranking / weighted instance ratio under both forms and both measures, and the
   ranking weight that gives the configured form the paper form's ratio: matched on values
   (``2 x paper value / configured value``) or on gradients (``2 x paper norm / configured norm``).

Stage 1 is measured on the untrained model (built and seeded as ``itr-bench run`` does); stage
k > 1 after training the run's stages before it exactly as ``itr-bench run`` does.

    python benchmarks/stage_balance.py plugins/itr_bench_dualpath/suites/quickstart.toml \\
        instance-then-ranking --seed 0 --batches 20
    python benchmarks/stage_balance.py leaderboards/configs/paper-ablation-flickr8k-cpu.toml \\
        instance-then-ranking --root ../shared/datasets/flickr8k

Checkpoints of the earlier stages go to ``--work`` (a temporary folder by default).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import torch

from itr_bench.api import LossContext
from itr_bench.engine.balance import embedding_grad_norms
from itr_bench.engine.checkpoint import load_checkpoint
from itr_bench.engine.objective import objective
from itr_bench.engine.run import build, seed_everything, train_run
from itr_bench.engine.train import LAST
from itr_bench.feed.feeding import TrainFeed
from itr_bench.plugins import get_plugin_manager, load_registry
from itr_bench.suites.plan import expand, load_suite

PAPER_RANKING = {"form": "paper", "margin": 1.0, "reduction": "mean"}
#: The paper's Stage II ranking weight (ranking 2 : image instance 1 : text instance 0.1).
PAPER_WEIGHT = 2.0


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


def model_at_stage(config, index: int, registry, work: Path):
    """The run's model as stage ``index`` starts: untrained, or after its earlier stages."""
    seed_everything(config.seed)  # as train_run does before building
    built = build(config, registry, "stage-balance", progress=False)
    if index > 0:
        earlier = dataclasses.replace(config, stages=config.stages[:index], untrained_baseline=False)
        folder = work / f"before-stage-{index + 1}"
        train_run(earlier, registry, folder, progress=False)
        state, _ = load_checkpoint(folder / LAST)
        built.model.load_state_dict(state["model"], strict=False)  # the earlier stages own every loss needed
    return built


def measure_batch(built, stage, losses, paper, batch) -> dict[str, float]:
    """Values and weighted gradient norms of one batch's terms, per term and per loss."""
    image, text = built.model(batch.images, batch.token_ids)
    weighted, totals, out = {}, {}, {}
    for name, weight in stage.losses.items():
        total, terms = objective({name: losses[name]}, {name: weight}, image, text, batch.instance_ids,
                                 stage.term_weights, weighted)
        totals[f"{name} (weighted sum)"] = total
        out.update({f"value/{k}": float(v) for k, v in terms.items()})
        out[f"value/{name} (weighted sum)"] = float(total)
    if paper is not None:
        total, terms = objective({"ranking": paper}, {"ranking": PAPER_WEIGHT}, image, text, batch.instance_ids)
        totals["paper-form ranking (weighted sum)"] = total
        out["value/paper-form ranking (weighted sum)"] = float(total)
    norms = embedding_grad_norms(image, text, {**weighted, **totals})
    out.update({f"grad_norm/{k}": v for k, v in norms.items()})
    return out


def stage_report(config, index: int, registry, work: Path, batches: int) -> dict:
    built = model_at_stage(config, index, registry, work)
    stage = config.stages[index]
    losses = built.stage_losses[index]
    paper = None
    if "ranking" in stage.losses and "instance" in stage.losses:
        context = LossContext(embed_dim=built.model.image.output_dim,
                              num_instances=built.model.losses["instance"].classifier.out_features)
        paper = registry.get("loss", "ranking").create(context, **PAPER_RANKING)
    feed = TrainFeed(built.prepared.split("train"), built.tokens["train"], batch_size=config.batch_size,
                     image_size=config.image_size, device=torch.device("cpu"), seed=config.seed,
                     sampler=config.sampler, transform=config.train_transform,
                     augment_ids=built.model.text.augment_ids if config.text_augment else None,
                     flip=built.flip_safe)
    built.model.train()  # as training sees it: dropout on, batch statistics
    sums: dict[str, float] = {}
    count = 0
    for batch in feed.epoch(sum(s.epochs for s in config.stages[:index])):
        for key, value in measure_batch(built, stage, losses, paper, batch).items():
            sums[key] = sums.get(key, 0.0) + value
        count += 1
        if count == batches:
            break
    means = {k: v / count for k, v in sums.items()}
    report = {"stage": index + 1, "losses": dict(stage.losses), "term_weights": dict(stage.term_weights),
              "batches": count,
              "terms": {k.split("/", 1)[1]: {"value": means[k], "grad_norm": means.get("grad_norm/" + k.split("/", 1)[1])}
                        for k in means if k.startswith("value/")}}
    if paper is not None:
        report.update(ranking_balance(report["terms"], stage.losses["ranking"]))
    return report


def ranking_balance(terms: dict, weight: float) -> dict:
    """Weighted ranking / weighted instance under the configured and the paper's form, by both
    measures, and the ranking weight that matches the paper form's ratio by each."""
    configured, paper = terms["ranking (weighted sum)"], terms["paper-form ranking (weighted sum)"]
    instance = terms["instance (weighted sum)"]
    ratio = {measure: {"configured": configured[measure] / instance[measure],
                       "paper_form": paper[measure] / instance[measure]} for measure in ("value", "grad_norm")}
    # the configured weight w gives w x unweighted; the paper's ratio needs 2 x paper / unweighted
    match = {measure: weight * paper[measure] / configured[measure] for measure in ("value", "grad_norm")}
    return {"ranking_over_instance": ratio, "ranking_weight_for_the_paper_ratio": match}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("suite")
    parser.add_argument("run")
    parser.add_argument("--root", default=None, help="the dataset's local folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batches", type=int, default=20, help="batches to average over at each stage's start")
    parser.add_argument("--work", type=Path, default=None, help="where earlier stages train (default: a temp folder)")
    args = parser.parse_args()

    registry = load_registry(get_plugin_manager())
    config = planned_config(args.suite, args.run, args.seed, args.root, registry)
    work = args.work or Path(tempfile.mkdtemp(prefix="stage-balance-"))
    report = {"suite": args.suite, "run": args.run, "seed": args.seed,
              "ranking_form": config.loss_options.get("ranking", {}),
              "stages": [stage_report(config, i, registry, work, args.batches) for i in range(len(config.stages))]}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
