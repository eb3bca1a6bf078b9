"""Wrong shapes, mismatched batches, non-finite values and bad options: one clear error each."""

from __future__ import annotations

import pytest
import torch

from itr_bench.api import LossContext
from itr_bench.errors import ConfigError, ItrBenchError

DIM, CLASSES = 8, 6
IDS = torch.arange(4)


def build(all_losses, name, **options):
    return all_losses.create("loss", name, LossContext(embed_dim=DIM, num_instances=CLASSES), **options)


def one_line_error(exc_info, *words):
    message = str(exc_info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


BAD_INPUTS = {
    "3-d image": (torch.randn(4, DIM, 1), torch.randn(4, DIM), IDS, "expected (B, D)"),
    "batch mismatch": (torch.randn(4, DIM), torch.randn(3, DIM), IDS, "differ in shape"),
    "width mismatch": (torch.randn(4, DIM), torch.randn(4, DIM + 1), IDS, "differ in shape"),
    "ids length": (torch.randn(4, DIM), torch.randn(4, DIM), torch.arange(3), "instance_ids"),
    "float ids": (torch.randn(4, DIM), torch.randn(4, DIM), IDS.float(), "integers"),
    "nan image": (
        torch.randn(4, DIM).index_fill(0, torch.tensor([2]), float("nan")),
        torch.randn(4, DIM),
        IDS,
        "NaN",
    ),
    "inf text": (torch.randn(4, DIM), torch.full((4, DIM), float("inf")), IDS, "NaN or inf"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_inputs_raise_a_clear_error(all_losses, loss_name, case):
    image, text, ids, words = BAD_INPUTS[case]
    with pytest.raises(ItrBenchError) as exc_info:
        build(all_losses, loss_name)(image, text, ids)
    one_line_error(exc_info, words)


@pytest.mark.parametrize("name", ["instance", "cmpc"])
def test_classifier_losses_check_width_and_id_range(all_losses, name):
    loss = build(all_losses, name)
    with pytest.raises(ItrBenchError) as exc_info:
        loss(torch.randn(4, DIM + 2), torch.randn(4, DIM + 2), IDS)
    one_line_error(exc_info, str(DIM + 2), str(DIM))
    with pytest.raises(ItrBenchError) as exc_info:
        loss(torch.randn(4, DIM), torch.randn(4, DIM), torch.tensor([0, 1, CLASSES, 2]))
    one_line_error(exc_info, f"[0, {CLASSES})")
    with pytest.raises(ItrBenchError) as exc_info:
        loss(torch.randn(4, DIM), torch.randn(4, DIM), torch.tensor([0, -1, 1, 2]))
    one_line_error(exc_info, f"[0, {CLASSES})")


@pytest.mark.parametrize("name", ["instance", "cmpc"])
def test_classifier_losses_need_instances(all_losses, name):
    with pytest.raises(ConfigError) as exc_info:
        all_losses.create("loss", name, LossContext(embed_dim=DIM, num_instances=0))
    one_line_error(exc_info, "num_instances")


#: Refused by the declaration in each factory's signature, before the factory runs.
BAD_OPTIONS = [
    ("ranking", {"form": "vse"}, "form: loss 'ranking' (plugin 'itr_bench_losses'): expected one of 'paper', "
                                 "'vsepp-sum', 'vsepp-max', got 'vse'"),
    ("ranking", {"reduction": "avg"}, "reduction: loss 'ranking' (plugin 'itr_bench_losses'): expected one of "
                                      "'sum', 'mean', got 'avg'"),
    ("ranking", {"form": "vsepp-max", "margin": -0.2}, "margin: loss 'ranking' (plugin 'itr_bench_losses'): must "
                                                       "be zero or positive, got -0.2"),
    ("triplet", {"reduction": "max"}, "reduction: loss 'triplet' (plugin 'itr_bench_losses'): expected one of "
                                      "'mean_nonzero', 'mean', 'sum', got 'max'"),
    ("cmpm", {"normalization": "l3"}, "normalization: loss 'cmpm' (plugin 'itr_bench_losses'): expected one of "
                                      "'l1', 'l2', got 'l3'"),
    ("infonce", {"temperature": 0}, "temperature: loss 'infonce' (plugin 'itr_bench_losses'): must be positive, "
                                    "got 0"),
    ("infonce", {"temperature": float("nan")}, "temperature: loss 'infonce' (plugin 'itr_bench_losses'): must be a "
                                               "finite number, got nan"),
    ("siglip", {"scale": "ten"}, "scale: loss 'siglip' (plugin 'itr_bench_losses'): expected a number, got 'ten'"),
    ("cmpc", {"label_smoothing": 1.5}, "label_smoothing: loss 'cmpc' (plugin 'itr_bench_losses'): must be in "
                                       "[0, 1), got 1.5"),
    ("instance", {"text_weight": -1}, "text_weight: loss 'instance' (plugin 'itr_bench_losses'): must be zero or "
                                      "positive, got -1"),
]


@pytest.mark.parametrize("name, options, words", BAD_OPTIONS)
def test_bad_options_raise_a_config_error(all_losses, name, options, words):
    with pytest.raises(ConfigError) as exc_info:
        build(all_losses, name, **options)
    one_line_error(exc_info, name, words)


def test_paper_ranking_needs_an_even_batch(all_losses):
    with pytest.raises(ItrBenchError) as exc_info:
        build(all_losses, "ranking")(torch.randn(5, DIM), torch.randn(5, DIM), torch.arange(5))
    one_line_error(exc_info, "even", "5")


def test_candidate_pool_is_checked(all_losses):
    from itr_bench_losses import CandidatePool

    loss = build(all_losses, "ranking")
    batch = (torch.randn(4, DIM), torch.randn(4, DIM), IDS)
    with pytest.raises(ItrBenchError) as exc_info:
        loss(
            *batch,
            candidates=CandidatePool(torch.randn(9, DIM + 1), torch.randn(9, DIM + 1), torch.arange(9)),
        )
    one_line_error(exc_info, "width")
    with pytest.raises(ItrBenchError) as exc_info:
        loss(
            *batch,
            candidates=CandidatePool(
                torch.randn(9, DIM), torch.full((9, DIM), float("nan")), torch.arange(9)
            ),
        )
    one_line_error(exc_info, "candidates", "NaN")
