"""Choosing trackers: ``--report-to`` on ``run``/``train`` or a suite's ``report_to``; unknown names and
missing packages are one line, exit 2, before anything trains; the choice never changes a run's
identity (a finished run stays finished), and a suite's runs are grouped under the suite."""

import re

import pytest
from tiny_models import TinyPlugin
from tracker_support import mlflow_client, tensorboard_scalars, tracker_ids

import itr_bench
from itr_bench.cli import main
from itr_bench.plugins import get_plugin_manager, load_registry
from itr_bench.suites.plan import expand, load_suite
from itr_bench.trackers import check_trackers, parse_report_to

SUITE = """
[suite]
name = "mini"
datasets = ["synthetic"]
seeds = [0]
{report_to}

[defaults]
image_encoder = "tiny-image"
text_encoder = "tiny-text"
image_size = 16
batch_size = 16
device = "cpu"
cache_dir = "{cache}"
untrained_baseline = false
dataset_options = {{ train = 32, val = 16, test = 16, image_size = 16 }}

[[runs]]
name = "ranking"
stages = [{{ epochs = 1, losses = {{ ranking = 1.0 }} }}]
loss_options = {{ ranking = {{ form = "vsepp-sum" }} }}
"""


RUN = """
[run]
name = "one"
dataset = "synthetic"
dataset_options = {{ train = 32, val = 16, test = 16, image_size = 16 }}
image_encoder = "tiny-image"
text_encoder = "tiny-text"
image_size = 16
batch_size = 16
device = "cpu"
cache_dir = "{cache}"

[[stages]]
epochs = 1
losses = {{ instance = 1.0 }}
"""


class MissingPackageTracker:
    """A tracker whose package is not installed."""

    @itr_bench.hookimpl
    def register_trackers(self, register):
        register("needs-missing", object, description="A tracker needing a missing package",
                 requires={"no_such_tracking_package": "itr-bench-nothing[extra]"})


def plugin_manager():
    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(TinyPlugin(), name="tiny")
    pm.register(MissingPackageTracker(), name="missing")
    return pm


@pytest.fixture
def cli(monkeypatch, capsys):
    monkeypatch.setattr("itr_bench.cli.get_plugin_manager", plugin_manager)

    def run(*args):
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def write_suite(tmp_path, report_to=""):
    path = tmp_path / "mini.toml"
    path.write_text(SUITE.format(cache=tmp_path / "cache", report_to=report_to))
    return path


def test_parse_report_to():
    assert parse_report_to("tensorboard, mlflow,,tensorboard") == ["tensorboard", "mlflow"]
    assert parse_report_to(["wandb"]) == ["wandb"] and parse_report_to(None) == []


def test_register_trackers_files_every_builtin_tracker_with_its_extra(registry):
    for name in ("tensorboard", "mlflow", "wandb"):
        info = registry.get("tracker", name)
        assert info.plugin == "itr_bench_trackers" and info.description
        assert f"itr-bench[{name}]" in info.metadata["requires"].values()


@pytest.mark.parametrize("args, message", [
    (["--report-to", "tensorbord"], r"--report-to: no tracker 'tensorbord': did you mean 'tensorboard'\?"),
    (["--report-to", "needs-missing"], (r"--report-to: tracker 'needs-missing' needs the no_such_tracking_package "
                                        r"package: pip install 'itr-bench-nothing\[extra\]'")),
])
def test_a_bad_choice_is_one_line_exit_2_before_training(tmp_path, cli, args, message):
    suite = write_suite(tmp_path)
    code, _, err = cli("run", suite, "--store", tmp_path / "store", "--no-progress", *args)
    assert code == 2 and err.count("\n") == 1, err
    assert re.search(message, err), err
    assert not (tmp_path / "store").exists()  # nothing planned was written


def test_train_refuses_a_missing_package_before_training(tmp_path, cli):
    config = tmp_path / "one.toml"
    config.write_text(RUN.format(cache=tmp_path / "cache"))
    code, _, err = cli("train", config, "--out", tmp_path / "run", "--report-to", "needs-missing")
    assert code == 2 and "pip install 'itr-bench-nothing[extra]'" in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_a_suite_key_chooses_trackers_and_the_flag_replaces_it(tmp_path):
    registry = load_registry(plugin_manager())
    data, where = load_suite(str(write_suite(tmp_path, 'report_to = ["tensorboard"]')), registry)
    assert [run.report_to for run in expand(data, registry, where, tmp_path / "s")] == [("tensorboard",)]
    assert expand(data, registry, where, tmp_path / "s", report_to=[])[0].report_to == ()
    data["suite"]["report_to"] = "tensorbord"
    with pytest.raises(itr_bench.errors.ConfigError, match=r"suite.report_to: no tracker 'tensorbord'"):
        expand(data, registry, where, tmp_path / "s")
    with pytest.raises(itr_bench.errors.ConfigError, match="needs the no_such_tracking_package package"):
        check_trackers(["needs-missing"], registry)


def test_adding_trackers_to_a_finished_suite_changes_nothing(tmp_path, cli):
    pytest.importorskip("tensorboard")
    pytest.importorskip("mlflow")
    suite = write_suite(tmp_path)
    store = tmp_path / "store"
    assert cli("run", suite, "--store", store, "--no-progress")[0] == 0
    code, out, err = cli("run", suite, "--store", store, "--no-progress", "--dry-run", "--report-to", "tensorboard")
    assert code == 0 and out.startswith("done"), out + err
    code, _, err = cli("run", suite, "--store", store, "--no-progress", "--report-to", "tensorboard,mlflow")
    assert code == 0 and "skipped" in err and "changed" not in err, err
    folder = store / "mini" / "synthetic" / "ranking" / "seed-0"
    assert not (folder / "trackers.json").exists()  # a finished run is not retrained for its trackers


def test_a_suite_groups_its_runs_in_the_trackers(tmp_path, cli):
    pytest.importorskip("tensorboard")
    pytest.importorskip("mlflow")
    suite = write_suite(tmp_path, 'report_to = ["tensorboard", "mlflow"]')
    store = tmp_path / "store"
    code, _, err = cli("run", suite, "--store", store, "--no-progress", "--seeds", "0,1")
    assert code == 0, err
    root = store / "mini"
    client = mlflow_client(root)  # one database per suite, beside its runs
    experiment = client.get_experiment_by_name("mini")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(run.info.run_name for run in runs) == ["synthetic/ranking/seed-0", "synthetic/ranking/seed-1"]
    assert {run.data.tags["loss"] for run in runs} == {"ranking"} and {r.data.tags["seed"] for r in runs} == {"0", "1"}
    assert all(run.data.tags["suite"] == "mini" and run.data.tags["commit"] for run in runs)
    for seed in (0, 1):
        folder = root / "synthetic" / "ranking" / f"seed-{seed}"
        assert tracker_ids(folder)["mlflow"] in {run.info.run_id for run in runs}
        assert [step for step, _ in tensorboard_scalars(folder, "train/loss")] == [2]
