"""Choosing trackers: ``--report-to`` on ``run``/``train`` or a suite's ``report_to``; unknown names and
missing packages are one line, exit 2, before anything trains; the choice never changes a run's
identity (a finished run stays finished), and a suite's runs are grouped under the suite."""

import re

import pytest
from tiny_cli import cli_runner, tiny_plugin_manager
from tiny_toml import stage, write_run, write_suite
from tracker_support import mlflow_client, tensorboard_scalars, tracker_ids

import itr_bench
from itr_bench.plugins import load_registry
from itr_bench.suites.plan import expand, load_suite
from itr_bench.trackers import check_trackers, parse_report_to


class MissingPackageTracker:
    """A tracker whose package is not installed."""

    @itr_bench.hookimpl
    def register_trackers(self, register):
        register("needs-missing", object, description="A tracker needing a missing package",
                 requires={"no_such_tracking_package": "itr-bench-nothing[extra]"})


def plugin_manager():
    return tiny_plugin_manager((MissingPackageTracker(), "missing"))


@pytest.fixture
def cli(monkeypatch, capsys):
    return cli_runner(monkeypatch, capsys, plugin_manager)


def write_mini_suite(tmp_path, report_to=None):
    """One run of the paired ranking loss; ``report_to``: the suite's trackers."""
    return write_suite(tmp_path / "mini.toml", tmp_path / "cache", suite={"report_to": report_to},
                       runs=[{"name": "ranking", "stages": [stage({"ranking": 1.0})],
                              "loss_options": {"ranking": {"form": "vsepp-sum"}}}])


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
    suite = write_mini_suite(tmp_path)
    code, _, err = cli("run", suite, "--store", tmp_path / "store", "--no-progress", *args)
    assert code == 2 and err.count("\n") == 1, err
    assert re.search(message, err), err
    assert not (tmp_path / "store").exists()  # nothing planned was written


def test_train_refuses_a_missing_package_before_training(tmp_path, cli):
    config = write_run(tmp_path / "one.toml", tmp_path / "cache", stages=[stage({"instance": 1.0})])
    code, _, err = cli("train", config, "--out", tmp_path / "run", "--report-to", "needs-missing")
    assert code == 2 and "pip install 'itr-bench-nothing[extra]'" in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_a_suite_key_chooses_trackers_and_the_flag_replaces_it(tmp_path):
    registry = load_registry(plugin_manager())
    data, where = load_suite(str(write_mini_suite(tmp_path, ["tensorboard"])), registry)
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
    suite = write_mini_suite(tmp_path)
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
    suite = write_mini_suite(tmp_path, ["tensorboard", "mlflow"])
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
