"""Suites: validation, expansion (every loss, third parties included), the resumable run store."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from tiny_models import TinyPlugin

import itr_bench
from itr_bench.api import Loss
from itr_bench.errors import ConfigError
from itr_bench.plugins import load_registry
from itr_bench.store.record import FAILED, RECORD
from itr_bench.suites.executors import execute_local
from itr_bench.suites.plan import expand

TINY = {"image_encoder": "tiny-image", "text_encoder": "tiny-text", "image_size": 16, "batch_size": 16,
        "device": "cpu", "dataset_options": {"train": 48, "val": 16, "test": 16, "image_size": 16},
        "negatives": "random"}


def suite(cache, **changes):
    data = {
        "suite": {"name": "mini", "datasets": ["synthetic"], "seeds": [0, 1]},
        "defaults": {**TINY, "cache_dir": str(cache), "untrained_baseline": False},
        "runs": [
            {"name": "instance", "stages": [{"epochs": 1, "losses": {"instance": 1.0}}]},
            {"name": "two-stage", "stages": [
                {"epochs": 1, "losses": {"instance": 1.0}, "lr_mult": {"image.trunk": 0.0}},
                {"epochs": 1, "losses": {"ranking": 2.0, "instance": 1.0}, "term_weights": {"instance_text": 0.1}}]},
        ],
    }
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            data[section][field] = value
        else:
            data[section] = value
    return data


@pytest.fixture
def registry(pm, register_plugin):
    register_plugin(TinyPlugin(), "tiny")
    return load_registry(pm)


def test_expansion_is_runs_x_datasets_x_seeds(registry, tmp_path):
    planned = expand(suite(tmp_path), registry, "mini.toml", tmp_path / "store")
    assert [p.label for p in planned] == [
        "synthetic/instance/seed-0", "synthetic/instance/seed-1",
        "synthetic/two-stage/seed-0", "synthetic/two-stage/seed-1"]
    assert planned[1].config.seed == 1 and planned[2].config.stages[1].term_weights == {"instance_text": 0.1}
    assert planned[0].folder == tmp_path / "store" / "mini" / "synthetic" / "instance" / "seed-0"


@pytest.mark.parametrize("changes, message", [
    ({"suite__nmae": "x"}, "mini.toml: suite.nmae: unknown key, did you mean 'name'?"),
    ({"extra": {}}, "mini.toml: extra: unknown key"),
    ({"suite__datasets": ["flickr8"]}, "suite.datasets: unknown dataset 'flickr8': did you mean 'flickr8k'"),
    ({"suite__seeds": ["0"]}, "suite.seeds: a list of integers"),
    ({"defaults__batch_sze": 3}, "runs[0].batch_sze: unknown key, did you mean 'batch_size'?"),
    ({"defaults__batch_size": -1}, "runs[0].batch_size: must be positive"),
    ({"defaults__image_encoder": "tiny-imag"}, "image_encoder: unknown image_encoder 'tiny-imag': did you mean 'tiny-image'?"),
    ({"runs": [{"name": "x", "stages": [{"epochs": 1, "losses": {"infonse": 1.0}}]}]},
     "runs[0].stages[0].losses.infonse: unknown loss 'infonse': did you mean 'infonce'?"),
    ({"runs": [{"name": "x", "stages": []}]}, "runs[0].stages: a run needs at least one stage"),
    ({"runs": [{"name": "a", "stages": [{"epochs": 1, "losses": {"instance": 1}}]},
               {"name": "a", "stages": [{"epochs": 1, "losses": {"instance": 1}}]}]}, "'a' is used twice"),
])
def test_bad_suites_give_one_line_errors(registry, tmp_path, changes, message):
    with pytest.raises(ConfigError) as excinfo:
        expand(suite(tmp_path, **changes), registry, "mini.toml", tmp_path / "store")
    assert message in str(excinfo.value) and "\n" not in str(excinfo.value)


class ThirdPartyLoss(Loss):
    """Negative mean cosine of the pairs."""

    def __init__(self, context):
        super().__init__()

    def compute(self, image, text, instance_ids):
        return {"cosine": 1 - (image * text).sum(1).mean()}


class ThirdParty:
    @itr_bench.hookimpl
    def register_losses(self, register):
        register("third-party-cosine", ThirdPartyLoss)


def test_each_loss_includes_third_party_losses(pm, register_plugin, tmp_path):
    register_plugin(TinyPlugin(), "tiny")
    register_plugin(ThirdParty(), "third")
    registry = load_registry(pm)
    data = suite(tmp_path, runs=[{"each_loss": True, "stage": {"epochs": 1, "lr": 0.01}, "skip_losses": ["cmpc"]}])
    planned = expand(data, registry, "mini.toml", tmp_path / "store", seeds=[0])
    names = [p.run for p in planned]
    assert "third-party-cosine" in names and "infonce" in names and "cmpc" not in names
    assert all(p.config.stages[0].losses == {p.run: 1.0} for p in planned)


def test_run_store_skips_finished_records_failures_and_continues(registry, tmp_path):
    data = suite(tmp_path / "cache")
    data["runs"].insert(0, {"name": "broken", "stages": [{"epochs": 1, "losses": {"instance": 1.0}}],
                            "batch_size": 1000})  # no full batch: fails with a reason
    planned = expand(data, registry, "mini.toml", tmp_path / "store", seeds=[0])
    outcomes = execute_local(planned, registry, progress=False)
    assert [o.status for o in outcomes] == ["failed", "done", "done"]
    failure = json.loads((planned[0].folder / FAILED).read_text())
    assert "no full batch of 1000" in failure["reason"]
    finished = {p.label: (p.folder / RECORD).stat().st_mtime_ns for p in planned[1:]}
    again = execute_local(planned, registry, progress=False)
    assert [o.status for o in again] == ["failed", "skipped", "skipped"]
    assert finished == {p.label: (p.folder / RECORD).stat().st_mtime_ns for p in planned[1:]}
    assert not (planned[1].folder / "last").exists() and (planned[1].folder / "best").is_dir()


SUITE_SCRIPT = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, {support!r})
    from tiny_models import TinyPlugin
    import itr_bench.engine.train as train_module
    from itr_bench.plugins import get_plugin_manager, load_registry
    from itr_bench.suites.executors import execute_local
    from itr_bench.suites.plan import expand

    if sys.argv[2] == "slow":
        original = train_module.Trainer._train_epoch
        def slowed(self, *args, **kwargs):
            time.sleep(0.4)
            return original(self, *args, **kwargs)
        train_module.Trainer._train_epoch = slowed
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(TinyPlugin(), name="tiny")
    registry = load_registry(pm)
    data = json.loads(open(sys.argv[1]).read())
    execute_local(expand(data, registry, "mini", __import__("pathlib").Path(sys.argv[3])), registry, progress=False)
""")


def test_kill_9_mid_suite_then_rerun_loses_nothing(tmp_path):
    support = os.path.join(os.path.dirname(os.path.dirname(__file__)), "support")
    script = tmp_path / "suite.py"
    script.write_text(SUITE_SCRIPT.format(support=support))
    data = suite(tmp_path / "cache")
    data["runs"][1]["stages"][1]["epochs"] = 3
    (tmp_path / "suite.json").write_text(json.dumps(data))
    store = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "suite.json"), "slow", str(store)])
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:  # kill inside the first two-stage run
        if (store / "mini" / "synthetic" / "two-stage" / "seed-0" / "last" / "state.json").exists():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    records = sorted(store.rglob(RECORD))
    assert len(records) == 2, "expected to kill the suite after the first two runs"
    before = {p: p.read_bytes() for p in records}
    subprocess.run([sys.executable, str(script), str(tmp_path / "suite.json"), "fast", str(store)], check=True)
    after = sorted(store.rglob(RECORD))
    assert len(after) == 4 and all(before[p] == p.read_bytes() for p in before)
    for path in after:
        record = json.loads(path.read_text())
        assert record["epochs"] in (1, 4) and len(record["history"]) == record["epochs"]
    assert not list(store.rglob(".*.json*")) and not list(store.rglob(FAILED))


def test_run_command_prints_one_line_per_finished_run_without_progress(pm, register_plugin, tmp_path):
    from click.testing import CliRunner

    from itr_bench.cli import make_cli

    data = suite(tmp_path / "cache", suite={"name": "mini", "datasets": ["synthetic"], "seeds": [0]})

    class MiniSuite:
        @itr_bench.hookimpl
        def register_suites(self, register):
            register("mini", lambda: data)

    register_plugin(TinyPlugin(), "tiny")
    register_plugin(MiniSuite(), "mini-suite")
    result = CliRunner().invoke(make_cli(pm), ["run", "mini", "--store", str(tmp_path / "store"), "--no-progress"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("done")]
    assert len(lines) == 2 and all(": test rsum " in line and "best val epoch" in line for line in lines)
    assert "synthetic/instance/seed-0" in lines[0]
