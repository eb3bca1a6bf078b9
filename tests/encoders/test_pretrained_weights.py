"""ImageNet starts: planted hub-cache weights are found, loaded without pickle and recorded with
their hash; a suite that needs missing weights or freezes a random trunk is refused at plan time;
``itr-bench fetch-weights`` fetches into the hub cache (download monkeypatched: no network here).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from planted_weights import plant_timm_weights

from itr_bench.api import EncoderContext
from itr_bench.cli import main
from itr_bench.errors import ConfigError, ItrBenchError
from itr_bench.pretrained import weight_record
from itr_bench.suites.plan import expand, load_suite

REPO = Path(__file__).resolve().parents[2]
RESNET50_HUB = "timm/resnet50.a1_in1k"


def cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_planted_resnet50_is_found_loaded_and_recorded_with_its_hash(registry, hub_cache, no_network):
    planted, state = plant_timm_weights(hub_cache, "resnet50")
    encoder = registry.create("image_encoder", "dualpath-resnet50", EncoderContext(), pretrained=True)
    assert encoder.weights == str(planted) and str(hub_cache) in encoder.weights
    loaded = encoder.trunk.state_dict()
    assert set(loaded) == set(state) - {"fc.weight", "fc.bias"}
    assert all(torch.equal(loaded[k], state[k]) for k in loaded)
    digest = hashlib.sha256(planted.read_bytes()).hexdigest()
    assert weight_record(encoder) == {"image.trunk": {"file": str(planted), "sha256": digest}}


def test_random_trunk_is_recorded_as_random(registry):
    encoder = registry.create("image_encoder", "dualpath-image", EncoderContext(), backbone="resnet10t", width=1 / 16)
    assert weight_record(encoder) == {"image.trunk": {"source": "random"}}


def test_a_weight_file_that_needs_unpickling_is_refused(registry, tmp_path):
    import timm

    state = timm.create_model("resnet10t", num_classes=0).state_dict()
    checkpoint = tmp_path / "trunk.pth"
    torch.save({"state_dict": state, "args": Path("not a tensor")}, checkpoint)  # a pickled object inside
    with pytest.raises(ItrBenchError, match="is not a plain weights file and was not loaded"):
        registry.create("image_encoder", "dualpath-image", EncoderContext(), backbone="resnet10t",
                        width=1 / 16, trunk_width=1.0, checkpoint=str(checkpoint))
    torch.save({"state_dict": state}, checkpoint)  # plain tensors: read with weights_only=True
    encoder = registry.create("image_encoder", "dualpath-image", EncoderContext(), backbone="resnet10t",
                              width=1 / 16, trunk_width=1.0, checkpoint=str(checkpoint))
    assert torch.equal(encoder.trunk.conv1[0].weight, state["conv1.0.weight"])


def test_paper_ablation_refuses_to_plan_without_imagenet_weights(capsys, hub_cache, tmp_path):
    code, out, err = cli(capsys, "run", "paper-ablation", "--dry-run", "--store", str(tmp_path / "store"))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert f"needs pretrained weights {RESNET50_HUB}" in err
    assert "'itr-bench fetch-weights paper-ablation'" in err and "Traceback" not in err


def test_paper_ablation_plans_with_planted_weights(registry, hub_cache, tmp_path):
    plant_timm_weights(hub_cache, "resnet50")
    data, where = load_suite("paper-ablation", registry)
    assert len(expand(data, registry, where, tmp_path)) == 4 * 4 * 3  # runs x datasets x seeds


def test_fetch_weights_downloads_into_the_hub_cache_once(capsys, registry, hub_cache, tmp_path, monkeypatch):
    """The download function is monkeypatched (no network here): it plants what the hub would serve."""
    import huggingface_hub

    calls = []

    def fake_download(repo_id, filename, **kwargs):
        calls.append((repo_id, filename))
        model = repo_id.split("/", 1)[1]
        path, _ = plant_timm_weights(Path(huggingface_hub.constants.HF_HUB_CACHE), model)
        return str(path)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.setattr("itr_bench_backbones.timm_weights.require_network", lambda url, what: None)  # no probe
    code, out, _ = cli(capsys, "fetch-weights", "paper-ablation", "--dry-run")
    assert code == 1 and out.split()[:2] == ["missing", RESNET50_HUB] and calls == []
    code, out, err = cli(capsys, "fetch-weights", "paper-ablation")
    assert code == 0, err
    assert calls == [(RESNET50_HUB, "model.safetensors")]
    file = next(hub_cache.rglob("model.safetensors"))
    assert out.split() == ["cached", RESNET50_HUB, str(file), f"sha256:{hashlib.sha256(file.read_bytes()).hexdigest()}"]
    code, _, err = cli(capsys, "fetch-weights", "paper-ablation")
    assert code == 0 and len(calls) == 1  # already cached: nothing downloaded again
    data, where = load_suite("paper-ablation", registry)
    assert expand(data, registry, where, tmp_path)  # the plan-time check now finds them


PRETRAINED = ["--set", "image_options.pretrained=true", "--set", "image_options.trunk_width=1.0"]


def test_overrides_reach_the_weights_check_and_fetch_weights(capsys, hub_cache, tmp_path):
    """An override can make a run load weights: run names the flag and the fetch line repeats it."""
    code, out, err = cli(capsys, "fetch-weights", "quickstart", "--dry-run")
    assert code == 0 and "loads no pretrained weights" in err
    code, out, err = cli(capsys, "fetch-weights", "quickstart", "--dry-run", *PRETRAINED)
    assert code == 1 and out.split()[0] == "missing" and "resnet18" in out, out + err
    code, out, err = cli(capsys, "run", "quickstart", "--dry-run", "--store", str(tmp_path / "store"), *PRETRAINED)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("itr-bench: error: --set image_options.trunk_width=1.0: image_options: needs pretrained")
    assert ("'itr-bench fetch-weights quickstart --set image_options.pretrained=true "
            "--set image_options.trunk_width=1.0'") in err


def _suite(path: Path | str, registry):
    return load_suite(str(path), registry)


@pytest.mark.parametrize("suite", ["quickstart", "loss-shootout",
                                   *sorted(str(p) for p in (REPO / "leaderboards" / "configs").glob("*.toml"))])
def test_committed_cpu_suites_plan(registry, tmp_path, hub_cache, suite):
    data, where = _suite(suite, registry)
    assert expand(data, registry, where, tmp_path)


@pytest.mark.parametrize("suite", ["quickstart", str(REPO / "leaderboards/configs/paper-ablation-flickr8k-cpu.toml")])
def test_freezing_a_random_trunk_needs_saying_so(registry, tmp_path, hub_cache, suite):
    data, where = _suite(suite, registry)
    frozen = [run for run in data["runs"] if run.get("allow_frozen_random")]
    assert frozen, "the suite freezes a from-scratch trunk in Stage I and must say so"
    for run in frozen:
        del run["allow_frozen_random"]
    with pytest.raises(ConfigError, match=r"stages\[0\]\.lr_mult: freezes image.trunk, which starts from random "
                                          r"weights.*allow_frozen_random = true"):
        expand(data, registry, where, tmp_path)


def test_frozen_pretrained_trunk_is_fine(registry, tmp_path, hub_cache):
    plant_timm_weights(hub_cache, "resnet50")
    data, where = _suite("paper-ablation", registry)
    frozen = [run for run in expand(data, registry, where, tmp_path) if run.run == "instance-then-ranking"]
    assert frozen and frozen[0].config.stages[0].lr_mult["image.trunk"] == 0.0
