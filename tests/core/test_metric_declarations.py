"""Metrics are declared once: evaluation, model selection, the leaderboard and the CLI's summaries
all read :data:`itr_bench.metrics.declarations.DECLARED`, so a metric added there (here: to an
extension of it) shows up in each of them with nothing else edited."""

from __future__ import annotations

import json
import math

import pytest
import torch

from itr_bench.api import Protocol
from itr_bench.commands.train import format_metrics
from itr_bench.config import RunConfig, build
from itr_bench.engine.run import check_selectable
from itr_bench.engine.train import improves
from itr_bench.errors import ConfigError
from itr_bench.metrics.declarations import (
    DECLARED,
    IDENTITY,
    IMAGE_CAPTION,
    IMAGE_TO_TEXT,
    TEXT_TO_IMAGE,
    Metric,
    MetricSet,
    recall_at,
)
from itr_bench.metrics.ranks import identity_metrics, image_caption_metrics
from itr_bench.results.leaderboard import aggregate, load_records, markdown, seeds_table
from itr_bench.store.record import RECORD

#: A metric the built-ins do not have, declared in one place.
R2 = Metric("i2t_r2", "R@2 image-to-text", IMAGE_TO_TEXT, frozenset({IMAGE_CAPTION}),
            lambda ranks: recall_at(ranks.i2t, (2,))[2], paired=True, bounds=(0.0, 100.0), format=".2f")
EXTENDED = DECLARED.extended(R2)
#: A lower-is-better one, declared first: it becomes the leaderboard's sort.
WORST = Metric("worst_rank", "worst rank text-to-image", TEXT_TO_IMAGE, frozenset({IMAGE_CAPTION, IDENTITY}),
               lambda ranks: float(ranks.t2i.max().item() + 1), higher_is_better=False)


def _scores(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    caption_image = torch.arange(6).repeat_interleave(2)
    sim = torch.rand(6, 12, generator=generator) + 0.5 * torch.nn.functional.one_hot(caption_image, 6).T
    return sim, caption_image


def test_the_protocols_named_are_the_api_protocols():
    assert {p.value for p in Protocol} == {IMAGE_CAPTION, IDENTITY}
    assert all(m.protocols <= {IMAGE_CAPTION, IDENTITY} for m in DECLARED)


def test_evaluation_computes_exactly_the_declared_metrics_in_their_order():
    sim, caption_image = _scores()
    got = image_caption_metrics(sim, caption_image)
    assert list(got) == [m.name for m in DECLARED if IMAGE_CAPTION in m.protocols]
    assert got["rsum"] == sum(got[f"{d}_r{k}"] for d in ("i2t", "t2i") for k in (1, 5, 10))
    ids = torch.tensor([0, 0, 1, 1, 2, 2])
    person = identity_metrics(torch.rand(6, 6), ids, ids)
    assert list(person) == [m.name for m in DECLARED if IDENTITY in m.protocols]
    assert person["rsum"] == sum(person[f"t2i_r{k}"] for k in (1, 5, 10))


def test_an_added_metric_is_computed_by_evaluation():
    sim, caption_image = _scores()
    got = image_caption_metrics(sim, caption_image, metrics=EXTENDED)
    assert got["i2t_r2"] == pytest.approx(recall_at(image_caption_ranks_i2t(sim, caption_image), (2,))[2])
    assert got["i2t_r1"] <= got["i2t_r2"] <= got["i2t_r5"]
    assert "i2t_r2" not in image_caption_metrics(sim, caption_image)


def image_caption_ranks_i2t(sim, caption_image):
    from itr_bench.metrics.ranks import image_caption_ranks

    return image_caption_ranks(sim, caption_image)[0]


def test_an_added_metric_can_select_the_best_epoch_each_way():
    assert EXTENDED.selection("i2t_r2", "x").name == "i2t_r2"
    assert improves({"i2t_r2": 40.0}, {"i2t_r2": 30.0}, EXTENDED["i2t_r2"])
    assert not improves({"i2t_r2": 30.0}, {"i2t_r2": 30.0}, EXTENDED["i2t_r2"])  # a tie keeps the earlier
    lower = DECLARED.extended(WORST)["worst_rank"]
    assert improves({"worst_rank": 3.0}, {"worst_rank": 9.0}, lower)
    assert not improves({"worst_rank": 9.0}, {"worst_rank": 3.0}, lower)
    assert improves({"worst_rank": 9.0}, {}, lower)  # the first validation is the best so far
    with pytest.raises(ConfigError, match="i2t_r2"):
        DECLARED.selection("i2t_r2", "x")


def _records(root, extra: dict[str, list[float]]):
    for run, values in extra.items():
        for seed, value in enumerate(values):
            folder = root / "s" / "synthetic" / run / f"seed-{seed}"
            folder.mkdir(parents=True)
            test = {"rsum": 100.0 + value, "i2t_r1": 10.0, "t2i_r1": 10.0, "i2t_r2": value, "worst_rank": value}
            (folder / RECORD).write_text(json.dumps({
                "suite": "s", "dataset": "synthetic", "run": run, "seed": seed, "baseline": "base",
                "objective": [], "test": test, "untrained": {"rsum": 1.0, "worst_rank": 50.0}}))
    return root


def test_an_added_metric_is_a_leaderboard_column_with_its_paired_difference(tmp_path):
    records = load_records(_records(tmp_path, {"base": [20.0, 22.0, 21.0], "new": [30.0, 33.0, 31.0]}), EXTENDED)
    table = aggregate(records, EXTENDED)
    assert list(table.columns[5:13]) == ["rsum", "rsum_ci95", "i2t_r1", "i2t_r1_ci95", "t2i_r1", "t2i_r1_ci95",
                                         "i2t_r2", "i2t_r2_ci95"]  # in declaration order
    new = table[table.run == "new"].iloc[0]
    assert new["i2t_r2"] == pytest.approx(94 / 3) and new["i2t_r2_diff"] == pytest.approx(31 / 3)
    assert new["i2t_r2_vs_baseline"] == "better"
    text = markdown(table, "s on synthetic", declared=EXTENDED)
    assert "| t2i_r1 | i2t_r2 |" in text and "Δ i2t_r2 vs baseline" in text
    assert "31.33 ±" in text  # its declared format
    tidy = seeds_table(records, "s", "synthetic", table["run"], EXTENDED)
    assert "i2t_r2" in set(tidy["metric"])
    plain = aggregate(load_records(tmp_path))
    assert not any(c.startswith("i2t_r2") for c in plain.columns)  # undeclared: not a column


def test_the_first_declared_metric_sorts_the_leaderboard_its_way(tmp_path):
    declared = MetricSet([WORST, *DECLARED])
    records = load_records(_records(tmp_path, {"base": [20.0, 22.0], "new": [5.0, 6.0]}), declared)
    table = aggregate(records, declared)
    assert list(table.run) == ["new", "base"]  # the lower worst rank first, against rSum's order
    assert list(aggregate(records).run) == ["base", "new"]
    assert "untrained worst_rank" in markdown(table, "t", declared=declared)


def test_the_summary_lists_an_added_metric_in_declared_order():
    line = format_metrics("test", {"i2t_r2": 12.0, "t2i_r1": 3.0, "rsum": 40.0, "other": 1.0}, EXTENDED)
    assert line == "test: rsum 40.00 | t2i_r1 3.00 | i2t_r2 12.00 | other 1.00"


@pytest.mark.parametrize("value, cause", [("rsun", "is not a declared metric, did you mean 'rsum'"),
                                          ("i2t_medr", "cannot select the best epoch")])
def test_select_metric_is_validated_with_suggestions(value, cause):
    data = {"dataset": "d", "image_encoder": "i", "text_encoder": "t", "select_metric": value,
            "stages": [{"epochs": 1, "losses": {"l": 1.0}}]}
    with pytest.raises(ConfigError, match=f"run.toml: select_metric: '{value}' {cause}"):
        build(RunConfig, data, "run.toml")
    assert build(RunConfig, {**data, "select_metric": "t2i_r1"}, "run.toml").select_metric == "t2i_r1"
    assert build(RunConfig, {k: v for k, v in data.items() if k != "select_metric"}, "x").select_metric == "rsum"


def test_select_metric_must_be_reported_by_the_validation_protocol():
    check_selectable("map", IDENTITY, "people", "run.toml")
    with pytest.raises(ConfigError, match="'map' is not reported under dataset 'photos'.s image-caption protocol"):
        check_selectable("map", IMAGE_CAPTION, "photos", "run.toml")


def test_declarations_hold_together():
    for metric in DECLARED:
        low, high = metric.bounds
        assert low < high and not math.isnan(low)
    assert DECLARED.primary.name == "rsum" and DECLARED.paired == ("rsum", "i2t_r1", "t2i_r1")
    with pytest.raises(ValueError, match="declared twice"):
        DECLARED.extended(DECLARED["rsum"])
