"""Budgets are steps and pairs: the plan shows them, equal across the paper's ablation arms, and
a trained record keeps the budget the plan announced, paired layout or not."""

from __future__ import annotations

from planted_weights import plant_timm_weights

from itr_bench.api import Sample, Split
from itr_bench.budget import StageBudget, describe, planned, recorded
from itr_bench.suites.plan import expand, load_suite

ARMS = ("ranking-only", "instance-only", "instance-then-ranking", "instance-then-ranking-unfrozen")


def _train(images: int) -> Split:
    return Split("train", [Sample(b"", ("a caption",), i, str(i)) for i in range(images)])


def test_the_paper_ablation_arms_get_equal_steps_and_pairs(registry, hub_cache, tmp_path):
    plant_timm_weights(hub_cache, "resnet50")
    data, where = load_suite("paper-ablation", registry)
    runs = expand(data, registry, where, tmp_path, seeds=[0], only_datasets=["flickr8k"])
    budgets = {run.run: planned(run.config, _train(6000)) for run in runs}
    assert set(budgets) == set(ARMS)
    totals = {arm: (sum(s.steps for s in b), sum(s.pairs for s in b)) for arm, b in budgets.items()}
    assert set(totals.values()) == {(60 * (6000 // 32), 60 * (6000 // 32) * 32)}, totals
    assert [s.steps for s in budgets["instance-then-ranking"]] == [20 * 187, 40 * 187]


def test_the_dry_run_lists_each_runs_steps(registry, tmp_path, capsys):
    from itr_bench.cli import main

    assert main(["run", "quickstart", "--seeds", "0", "--dry-run", "--store", str(tmp_path / "store")]) == 0
    lines = capsys.readouterr().out.splitlines()
    budgets = ("144 steps (18 + 126), 4,608 pairs", "144 steps, 4,608 pairs")
    assert len(lines) == 4 and all(line.endswith(budgets) for line in lines), lines


def test_budget_words():
    assert describe([StageBudget(2, 8, 128), StageBudget(2, 16, 256)]) == "24 steps (8 + 16), 384 pairs"
    assert recorded({"history": [], "config": {}}) is None

