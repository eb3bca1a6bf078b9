"""Data-parallel training (2 CPU processes, gloo) equals one process on the same global batch.

This is what torchrun does: each process joins the group from RANK / WORLD_SIZE, trains on its
shard of every global batch, gathers features for in-batch losses and averages gradients.
"""

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from tiny_models import TinyPlugin, tiny_config

from itr_bench.engine.checkpoint import load_checkpoint
from itr_bench.engine.run import train_run
from itr_bench.plugins import get_plugin_manager, load_registry
from itr_bench.store.record import RECORD

STAGES = [{"epochs": 2, "losses": {"infonce": 1.0, "instance": 0.5}, "lr": 0.05},
          {"epochs": 1, "losses": {"ranking": 1.0}, "lr": 0.02}]


def registry():
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(TinyPlugin(), name="tiny")
    return load_registry(pm)


#: The paper's two stages with hard negatives mined in eval mode for slot B/2+k.
PAIRED = dict(stages=[{"epochs": 1, "losses": {"instance": 1.0}, "lr": 0.05},
                      {"epochs": 1, "losses": {"ranking": 2.0, "instance": 1.0}, "lr": 0.05}],
              loss_options={"ranking": {"form": "paper"}}, negatives="hardest", negative_options={"candidates": 24})


def config(cache, batch_size, paired=False):
    if paired:
        return tiny_config(cache, batch_size=batch_size, untrained_baseline=False, **PAIRED)
    return tiny_config(cache, batch_size=batch_size, stages=STAGES, untrained_baseline=False,
                       loss_options={"ranking": {"form": "vsepp-max"}})


def _worker(rank, world_size, port, cache, out, paired=False):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        train_run(config(cache, 8, paired), registry(), out, progress=False)
    finally:
        torch.distributed.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_match_one_process_on_the_global_batch(tmp_path):
    cache = str(tmp_path / "cache")
    single = train_run(config(cache, 16), registry(), tmp_path / "single", progress=False)
    mp.spawn(_worker, args=(2, free_port(), cache, str(tmp_path / "ddp")), nprocs=2, join=True)
    a, _ = load_checkpoint(tmp_path / "single" / "last")
    b, state = load_checkpoint(tmp_path / "ddp" / "last")
    assert state["train"]["global_epoch"] == 3
    for key, value in a["model"].items():
        assert torch.allclose(value, b["model"][key], atol=2e-5, rtol=1e-4), key
    assert any("logit_scale" in key or "log_scale" in key or "scale" in key for key in a["model"]), \
        "the comparison should include a loss parameter (InfoNCE's temperature)"
    ddp_record = (tmp_path / "ddp" / RECORD).read_text()
    assert '"world_size": 2' in ddp_record
    assert single["world_size"] == 1


@pytest.mark.slow
def test_two_processes_mine_the_same_negatives_as_one_process(tmp_path):
    """Negatives are drawn and mined for the global batch; each process keeps its anchors' pairs."""
    cache = str(tmp_path / "cache")
    train_run(config(cache, 16, paired=True), registry(), tmp_path / "single", progress=False)
    mp.spawn(_worker, args=(2, free_port(), cache, str(tmp_path / "ddp"), True), nprocs=2, join=True)
    a, _ = load_checkpoint(tmp_path / "single" / "last")
    b, _ = load_checkpoint(tmp_path / "ddp" / "last")
    for key, value in a["model"].items():
        assert torch.allclose(value, b["model"][key], atol=2e-5, rtol=1e-4), key
