"""The paper-recipe-smoke suite on real Flickr8k: every piece of the paper's recipe actually runs.

Pretrained weights are planted (random ResNet-50 weights saved where timm's download would put
them); the run is checked from its record and from hooks into the negative sampler and the test
features: hard negatives mined in Stage II, the sentence shift, the frozen Stage I trunk with
fixed BN statistics, the Stage II multipliers, and the paper's test-time features.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from itr_bench_dualpath.image import DualPathImageEncoder
from itr_bench_dualpath.text import DualPathTextEncoder
from itr_bench_dualpath.trunk_rates import PAPER_TRUNK_LR_MULT
from itr_bench_losses import HardestNegatives
from planted_weights import plant_timm_weights

from itr_bench.data.text import PAD_ID
from itr_bench.engine.checkpoint import load_checkpoint
from itr_bench.store.record import RECORD
from itr_bench.suites.executors import execute_one
from itr_bench.suites.plan import expand, load_suite


@pytest.mark.slow
def test_paper_recipe_smoke_runs_every_piece(shared_datasets, hub_cache, no_network, registry, tmp_path,
                                             monkeypatch):
    planted, state = plant_timm_weights(hub_cache, "resnet50")
    data, where = load_suite("paper-recipe-smoke", registry)
    [run] = expand(data, registry, where, tmp_path / "store", datasets={
        "flickr8k": {"root": str(shared_datasets / "flickr8k"), "cache_dir": str(tmp_path / "cache")}})

    mined, trunk_at_first_mining = [], []
    choose = HardestNegatives.choose

    def spy(self, anchors, pool):  # the hook into the sampler
        if not mined:
            trunk_at_first_mining.append({k: v.clone() for k, v in pool.embedder.model.image.trunk.state_dict().items()})
        chosen = choose(self, anchors, pool)
        mined.append((anchors, chosen, pool.instance_ids, self.candidates))
        return chosen

    monkeypatch.setattr(HardestNegatives, "choose", spy)
    test_features = {"image": 0, "text": 0}
    for cls, key in ((DualPathImageEncoder, "image"), (DualPathTextEncoder, "text")):
        def counted(self, inputs, _original=cls.test_time_embedding, _key=key):
            test_features[_key] += 1
            return _original(self, inputs)
        monkeypatch.setattr(cls, "test_time_embedding", counted)

    outcome = execute_one(run, registry, progress=False, keep_last=True)
    assert outcome.status == "done", outcome.reason
    record = json.loads((run.folder / RECORD).read_text())
    stage_one, stage_two = record["history"][0], record["history"][-1]

    # ImageNet start: the planted file, named with its hash
    assert record["weights"]["image.trunk"] == {"file": str(planted),
                                                "sha256": hashlib.sha256(planted.read_bytes()).hexdigest()}

    # Stage I froze the trunk, BN statistics included: at the first mining (Stage II's first
    # batch, before its first step) the trunk is still exactly the planted weights
    assert all(v == 0 for k, v in record["objective"][0]["lr_groups"].items() if k.startswith("image.trunk"))
    frozen = trunk_at_first_mining[0]
    for name, value in frozen.items():
        if not name.endswith("num_batches_tracked"):
            assert torch.equal(value, state[name]), name

    # Stage II: the paper's trunk multipliers, and the trunk (and its BN statistics) moved
    lr_groups = record["objective"][1]["lr_groups"]
    assert {k: lr_groups[k] for k in PAPER_TRUNK_LR_MULT} == dict(PAPER_TRUNK_LR_MULT)
    final, _ = load_checkpoint(run.folder / "last")
    trunk = {k.removeprefix("image.trunk."): v for k, v in final["model"].items() if k.startswith("image.trunk.")}
    assert not torch.equal(trunk["layer1.0.conv1.weight"], state["layer1.0.conv1.weight"])
    assert not torch.equal(trunk["bn1.running_mean"], state["bn1.running_mean"])

    # Hard negatives: every Stage II batch mined 256 candidates from outside the batch
    assert record["negatives"] == {"sampler": "hardest", "options": {"candidates": 256}, "from": "dataset flickr8k"}
    assert record["objective"][1]["negatives"] == "hardest" and "negatives" not in record["objective"][0]
    assert stage_two["negatives"] == "hardest" and "negatives" not in stage_one
    assert len(mined) == stage_two["steps"] == 96 // 32  # N/B batches of 32, the first 16 of each the anchors
    for anchors, chosen, instance_ids, candidates in mined:
        assert candidates == 256 and len(chosen) == len(anchors) == 16
        assert not set(chosen.images.tolist()) & set(anchors.images.tolist())
        assert bool((instance_ids[chosen.images] != instance_ids[anchors.images]).all())

    # The sentence shift: the record names it, and training sentences start at many different slots
    assert record["augmentation"]["text"] == "shift"
    starts = torch.cat([(a.token_ids != PAD_ID).long().argmax(1) for a, _, _, _ in mined])
    assert len(set(starts.tolist())) > 5

    # The paper's test features, on val and test
    assert record["config"]["test_time_augmentation"] is True
    assert test_features["image"] > 0 and test_features["text"] > 0
