"""Two processes (gloo, CPU) reproduce the single-process loss values and gradients exactly.

Each process encodes its shard of one global batch with a replicated linear "encoder", computes
the loss the way the engine will (``distributed_loss_terms``) and averages parameter gradients
as DDP does. Values, encoder gradients, the loss's own parameter gradients and the gradients
reaching the features must equal one process on the whole batch. The peers' mistakes
(docs/fair-benchmark.md, "Gradients under data parallelism") are run too and must come out off
by exactly the world size.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from itr_bench.api import Gathering, Inputs, LossContext
from itr_bench.engine.distributed import (
    distributed_loss_terms,
    gather,
    gather_with_grad,
    mean_across_processes,
    world_info,
)
from itr_bench.plugins import get_plugin_manager, load_registry

WORLD = 2
BATCH, DIM, RAW_DIM = 8, 6, 5
#: Id 1 appears on both processes (rows 1 and 5); in the paper layout row 5 is anchor 1's negative.
IDS = torch.tensor([0, 1, 2, 3, 4, 1, 6, 7])


@dataclass(frozen=True)
class Case:
    name: str
    options: dict = field(default_factory=dict)
    #: RankLoss.m layout: anchors then their negatives; a shard keeps each anchor with its negative.
    paired_halves: bool = False

    @property
    def id(self) -> str:
        return self.name + "".join(f"-{k}={v}" for k, v in sorted(self.options.items()))

    def rows(self, rank: int, world: int) -> torch.Tensor:
        if self.paired_halves:
            half, per = BATCH // 2, BATCH // 2 // world
            anchors = torch.arange(rank * per, (rank + 1) * per)
            return torch.cat([anchors, anchors + half])
        per = BATCH // world
        return torch.arange(rank * per, (rank + 1) * per)


EXTRA_CASES = (
    Case("instance", {"bias": False, "text_weight": 0.1}),
    Case("ranking", {"reduction": "mean"}, paired_halves=True),
    Case("ranking", {"form": "vsepp-sum"}),
    Case("ranking", {"form": "vsepp-max", "reduction": "mean"}),
    Case("infonce", {"exclude_same_instance": False}),
    Case("siglip", {"same_instance_positive": False}),
    Case("cmpm", {"normalization": "l2"}),
    Case("triplet", {"reduction": "sum"}),
)


def loss_factories() -> dict:
    """Every registered loss factory by name, third-party ones included (a fresh registry)."""
    registry = load_registry(get_plugin_manager())
    return {name: registry.get("loss", name).factory for name in registry.names("loss")}


def all_cases(names) -> list[Case]:
    """Every registered loss with its defaults, plus option variants of the built-ins."""
    defaults = [Case(name, paired_halves=name == "ranking") for name in names]
    return defaults + [case for case in EXTRA_CASES if case.name in names]


# ------------------------------------------------------------------ how a process computes terms


def engine_terms(loss, image, text, ids):
    return distributed_loss_terms(loss, image, text, ids)


def gathered_without_grad_terms(loss, image, text, ids):
    """PML's DistributedLossWrapper before its fix: others' rows as constants, own rows live."""
    if loss.gathering is not Gathering.GATHERED or not world_info().distributed:
        return engine_terms(loss, image, text, ids)
    rank, per = world_info().rank, len(image)
    live = slice(rank * per, (rank + 1) * per)

    def with_own_rows(local):
        everything = gather(local)
        return torch.cat([everything[: live.start], local, everything[live.stop :]])

    return loss(with_own_rows(image), with_own_rows(text), gather(ids))


def gathered_and_scaled_terms(loss, image, text, ids):
    """Gather with gradients *and* multiply by the world size (the two fixes stacked)."""
    terms = engine_terms(loss, image, text, ids)
    if loss.gathering is Gathering.GATHERED:
        terms = {k: v * world_info().size for k, v in terms.items()}
    return terms


def unscaled_local_terms(loss, image, text, ids):
    """A sum-reduced LOCAL loss left as each shard's sum."""
    if loss.gathering is Gathering.LOCAL:
        return loss(image, text, ids)
    return engine_terms(loss, image, text, ids)


MODES = {
    "engine": engine_terms,
    "gathered-without-grad": gathered_without_grad_terms,
    "gathered-and-scaled": gathered_and_scaled_terms,
    "unscaled-local": unscaled_local_terms,
}


def run_case(factory, case: Case, mode: str) -> dict:
    """Values and DDP-averaged gradients of one loss on this process's shard (or the whole batch)."""
    world = world_info()
    generator = torch.Generator().manual_seed(7)
    raw_image = torch.randn(BATCH, RAW_DIM, generator=generator, dtype=torch.float64)
    raw_text = torch.randn(BATCH, RAW_DIM, generator=generator, dtype=torch.float64)
    torch.manual_seed(0)
    loss = factory(LossContext(embed_dim=DIM, num_instances=BATCH), **case.options).double()
    torch.manual_seed(1)
    encoders = torch.nn.ModuleDict(
        {"image": torch.nn.Linear(RAW_DIM, DIM), "text": torch.nn.Linear(RAW_DIM, DIM)}
    ).double()
    rows = case.rows(world.rank, world.size)
    image, text = encoders["image"](raw_image[rows]), encoders["text"](raw_text[rows])
    if loss.inputs is Inputs.NORMALIZED:
        image, text = F.normalize(image, dim=1), F.normalize(text, dim=1)
    image.retain_grad()
    text.retain_grad()
    terms = MODES[mode](loss, image, text, IDS[rows])
    sum(terms.values()).backward()
    named = {f"encoder.{k}": p for k, p in encoders.named_parameters()}
    named.update({f"loss.{k}": p for k, p in loss.named_parameters()})
    grads = {}
    for key, parameter in named.items():  # what DDP does: average over processes
        grad = parameter.grad.clone() if parameter.grad is not None else torch.zeros_like(parameter)
        if world.distributed:
            dist.all_reduce(grad)
            grad /= world.size
        grads[key] = grad
    # A feature's share of the averaged gradient is its own gradient divided by the world size.
    order = gather(rows).argsort()
    for key, feature in (("features.image", image), ("features.text", text)):
        grads[key] = (gather(feature.grad) / world.size)[order]
    return {"values": mean_across_processes(terms), "grads": grads}


def check_gather_with_uneven_shards() -> dict:
    """gather_with_grad of 3 + 5 rows: the concatenation forward, summed gradients backward."""
    rank = world_info().rank
    full = torch.arange(16.0, dtype=torch.float64).reshape(8, 2)
    rows = slice(0, 3) if rank == 0 else slice(3, 8)
    local = full[rows].clone().requires_grad_()
    gathered = gather_with_grad(local)
    weights = torch.linspace(-1, 1, 16, dtype=torch.float64).reshape(8, 2)
    (gathered * weights).sum().backward()
    return {
        "gathered": gathered.detach(),
        "grad": local.grad,
        "expected_grad": world_info().size * weights[rows],
    }


def worker(rank: int, port: int, factories: dict, cases: list[Case], out: str) -> None:
    """One data-parallel process. It gets the factories themselves (pickled by reference), so it
    imports only the loss plugins, not every plugin a registry would load."""
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        results = {
            mode: {case.id: run_case(factories[case.name], case, mode) for case in cases} for mode in MODES
        }
        gather_check = check_gather_with_uneven_shards()
        all_checks = [None] * WORLD
        dist.all_gather_object(all_checks, gather_check)
        if rank == 0:
            torch.save({"modes": results, "gather": all_checks, "world": world_info()}, out)
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        cases = all_cases(loss_factories())
        metafunc.parametrize("case", cases, ids=[case.id for case in cases])


@pytest.fixture(scope="module")
def factories():
    return loss_factories()


@pytest.fixture(scope="module")
def cases(factories):
    return all_cases(factories)


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory, factories, cases):
    out = tmp_path_factory.mktemp("ddp") / "results.pt"
    mp.spawn(worker, args=(free_port(), factories, cases, str(out)), nprocs=WORLD, join=True)
    return torch.load(out, weights_only=False)


@pytest.fixture(scope="module")
def single_process_results(factories, cases):
    return {case.id: run_case(factories[case.name], case, "engine") for case in cases}


def assert_results_equal(actual: dict, expected: dict) -> None:
    assert actual["values"].keys() == expected["values"].keys()
    for key in expected["values"]:
        torch.testing.assert_close(
            actual["values"][key], expected["values"][key], rtol=1e-7, atol=1e-9, msg=f"value {key}"
        )
    assert actual["grads"].keys() == expected["grads"].keys()
    for key in expected["grads"]:
        torch.testing.assert_close(
            actual["grads"][key], expected["grads"][key], rtol=1e-7, atol=1e-9, msg=f"grad {key}"
        )


def results_differ(actual: dict, expected: dict) -> bool:
    try:
        assert_results_equal(actual, expected)
    except AssertionError:
        return True
    return False


def scaled_grads(result: dict, factor: float) -> dict:
    return {"values": result["values"], "grads": {k: v * factor for k, v in result["grads"].items()}}


pytestmark = pytest.mark.slow


def test_two_processes_equal_one_process(case, two_process_results, single_process_results):
    expected = single_process_results[case.id]
    assert any(g.abs().sum() > 0 for g in expected["grads"].values()), "degenerate case: no gradient at all"
    assert_results_equal(two_process_results["modes"]["engine"][case.id], expected)


def test_the_processes_really_were_two(two_process_results):
    assert two_process_results["world"].size == WORLD


def test_gather_with_grad_handles_uneven_shards(two_process_results):
    full = torch.arange(16.0, dtype=torch.float64).reshape(8, 2)
    for check in two_process_results["gather"]:
        torch.testing.assert_close(check["gathered"], full)
        torch.testing.assert_close(check["grad"], check["expected_grad"])


def _encoder_grads(result):
    return {"values": {}, "grads": {k: v for k, v in result["grads"].items() if not k.startswith("loss.")}}


@pytest.mark.parametrize("name", ["infonce", "siglip", "cmpm", "triplet"])
def test_gathering_without_grad_is_caught_as_world_size_too_small(
    name, two_process_results, single_process_results
):
    """Others' features as constants: encoder and feature gradients come out W times too small."""
    case = Case(name)
    wrong = _encoder_grads(two_process_results["modes"]["gathered-without-grad"][case.id])
    right = _encoder_grads(single_process_results[case.id])
    assert results_differ(wrong, right)
    assert_results_equal(scaled_grads(wrong, WORLD), right)


@pytest.mark.parametrize("name", ["infonce", "siglip"])
def test_scaling_a_gathered_loss_again_is_caught_as_world_size_too_large(
    name, two_process_results, single_process_results
):
    case = Case(name)
    wrong = two_process_results["modes"]["gathered-and-scaled"][case.id]
    right = single_process_results[case.id]
    assert results_differ(wrong, right)
    assert_results_equal(
        {
            "values": {k: v / WORLD for k, v in wrong["values"].items()},
            "grads": scaled_grads(wrong, 1 / WORLD)["grads"],
        },
        right,
    )


def test_a_summed_local_loss_left_unscaled_is_caught(two_process_results, single_process_results):
    """The paper's RankLoss.m form is a per-shard sum: without the x W its gradients are W times too small."""
    case = Case("ranking", paired_halves=True)
    wrong = two_process_results["modes"]["unscaled-local"][case.id]
    right = single_process_results[case.id]
    assert results_differ(wrong, right)
    assert_results_equal(
        {
            "values": {k: v * WORLD for k, v in wrong["values"].items()},
            "grads": scaled_grads(wrong, WORLD)["grads"],
        },
        right,
    )


def test_mean_reduced_local_losses_need_no_scaling(two_process_results, single_process_results):
    for name in ("instance", "cmpc"):
        case = Case(name)
        assert_results_equal(
            two_process_results["modes"]["unscaled-local"][case.id], single_process_results[case.id]
        )
