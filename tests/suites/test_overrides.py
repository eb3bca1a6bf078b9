"""Command-line overrides: ``--set`` (every run) and ``--set-run`` (one run) with dotted keys and
TOML values, applied over every layer of a suite (``each_loss`` runs included); every error names
the flag and its value, never the suite file, and never suggests a forbidden key."""

import pytest
from tiny_cli import cli_runner, tiny_plugin_manager
from tiny_models import TinyPlugin

from itr_bench.errors import ConfigError
from itr_bench.overrides import SUITE_FORBIDDEN, Overrides, parse_value
from itr_bench.plugins import load_registry
from itr_bench.suites.plan import expand

TINY = {"image_encoder": "tiny-image", "text_encoder": "tiny-text", "image_size": 16, "batch_size": 16,
        "device": "cpu", "dataset_options": {"train": 48, "val": 16, "test": 16, "image_size": 16},
        "negatives": "random", "loss_options": {"ranking": {"form": "vsepp-sum", "margin": 0.2}},
        "image_options": {"dim": 16}}


def suite(**runs):
    return {
        "suite": {"name": "mini", "datasets": ["synthetic"], "seeds": [0]},
        "defaults": TINY,
        "runs": runs.get("runs") or [
            {"name": "instance", "batch_size": 8, "stages": [{"epochs": 1, "losses": {"instance": 1.0}}]},
            {"name": "two-stage", "stages": [
                {"epochs": 2, "losses": {"instance": 1.0}, "lr_steps": [1]},
                {"epochs": 3, "losses": {"ranking": 1.0}, "lr_steps": [1, 2]}]},
        ],
    }


@pytest.fixture
def registry(pm, register_plugin):
    register_plugin(TinyPlugin(), "tiny")
    return load_registry(pm)


def plan(registry, tmp_path, sets=(), set_runs=(), data=None, notes=None):
    overrides = Overrides.parse(sets, set_runs, SUITE_FORBIDDEN)
    planned = expand(data or suite(), registry, "mini.toml", tmp_path / "store", overrides=overrides, notes=notes)
    return {p.run: p.config for p in planned}


def refused(registry, tmp_path, sets=(), set_runs=(), data=None) -> str:
    with pytest.raises(ConfigError) as excinfo:
        plan(registry, tmp_path, sets, set_runs, data=data)
    message = str(excinfo.value)
    assert "\n" not in message and "mini.toml" not in message, message
    return message


@pytest.mark.parametrize("text, value", [
    ("2", 2), ("0.05", 0.05), ("true", True), ('"x"', "x"), ("'x'", "x"), ("[6, 8]", [6, 8]), ("1e-3", 1e-3),
    ('{backbone = "resnet18"}', {"backbone": "resnet18"}), ("{a = {b = 1}}", {"a": {"b": 1}}),
    ("cuda", "cuda"), ("cuda:0", "cuda:0"), ("resnet18", "resnet18"), ("", ""),
    ('{"name": "my-photos"}', {"name": "my-photos"}),  # JSON, as older command lines wrote tables
])
def test_values_read_as_toml_and_a_bare_word_stays_a_string(text, value):
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


@pytest.mark.parametrize("text", ["{backbone=resnet18}", "[1, 2", '"open'])
def test_a_broken_table_list_or_string_is_an_error_not_a_string(text):
    with pytest.raises(ConfigError, match=r"--set k=.*: not a valid TOML value"):
        parse_value(text, f"--set k={text}")


def test_set_reaches_every_run_after_the_suites_defaults_and_per_run_values(registry, tmp_path):
    configs = plan(registry, tmp_path, ["stages.0.epochs=4", "batch_size=4", "loss_options.ranking.margin=0.05",
                                        'image_options={dim = 8}', "device=cpu"])
    assert [c.stages[0].epochs for c in configs.values()] == [4, 4]
    assert configs["two-stage"].stages[1].epochs == 3  # only the indexed stage
    assert all(c.batch_size == 4 for c in configs.values())  # over the instance run's own batch_size = 8
    # tables merge key by key, as a suite's layers do: the form the suite set stays
    assert configs["instance"].loss_options == {"ranking": {"form": "vsepp-sum", "margin": 0.05}}
    assert configs["instance"].image_options == {"dim": 8}


def test_set_reaches_runs_made_by_each_loss(registry, tmp_path):
    data = suite(runs=[{"each_loss": True, "stage": {"epochs": 1}, "skip_losses": ["cmpc"]}])
    configs = plan(registry, tmp_path, ["stages.0.epochs=2", "stages.0.lr=0.01"], data=data)
    assert len(configs) > 3 and all(c.stages[0].epochs == 2 and c.stages[0].lr == 0.01 for c in configs.values())


def test_set_run_changes_one_run_after_every_set(registry, tmp_path):
    configs = plan(registry, tmp_path, ["stages.0.lr=0.5"], ["two-stage.stages.1.lr=0.01", "two-stage.stages.0.lr=0.2"])
    assert configs["instance"].stages[0].lr == 0.5
    assert [s.lr for s in configs["two-stage"].stages] == [0.2, 0.01]


def test_shortening_a_stage_drops_the_lr_steps_past_its_end_and_says_so(registry, tmp_path):
    notes, two_stage = [], suite(runs=suite()["runs"][1:])
    configs = plan(registry, tmp_path, ["stages.1.epochs=2"], notes=notes, data=two_stage)
    assert configs["two-stage"].stages[1].lr_steps == [1]
    assert notes == ["--set stages.1.epochs=2: the suite's run 'two-stage': stages[1].lr_steps [1, 2] -> [1] "
                     "(steps at or past the stage's end never fire)"]
    # unless the same command line sets them: then they are checked as given
    assert refused(registry, tmp_path, ["stages.1.epochs=2", "stages.1.lr_steps=[2]"], data=two_stage) == (
        "--set stages.1.lr_steps=[2]: stages[1].lr_steps: steps must lie within 1..1")


@pytest.mark.parametrize("sets, set_runs, expected", [
    (["stages.1.epochs=2"], [], "--set stages.1.epochs=2: the suite's run 'instance' has 1 stage (indices count "
                                "from 0: the last is stages.0); --set-run RUN.KEY=VALUE changes one run only"),
    ([], ["two-stage.stages.5.lr=1"], "--set-run two-stage.stages.5.lr=1: the suite's run 'two-stage' has 2 stages"),
    ([], ["two-stgae.stages.0.lr=1"], "--set-run two-stgae.stages.0.lr=1: the suite has no run 'two-stgae', "
                                      "did you mean 'two-stage'?"),
    (["epochs=2"], [], "--set epochs=2: 'epochs' is not a run-config key, it is a stage key: write stages.N.epochs"),
    (["stages.0.epoch=2"], [], "--set stages.0.epoch=2: 'epoch' is not a stage key, did you mean 'epochs'?"),
    (["stages.first.lr=2"], [], "--set stages.first.lr=2: stages is a list: index it by number"),
    (["stages.0.epochs=0"], [], "--set stages.0.epochs=0: stages[0].epochs: must be positive, got 0"),
    (["stages.0.losses.instance=0"], [], "--set stages.0.losses.instance=0: stages[0].losses: a stage needs at least"),
    (["stages.0.momentum=0"], [], "--set stages.0.momentum=0: stages[0].nesterov: Nesterov SGD needs momentum > 0"),
    (["loss_options.rankng.margin=0.1"], [], "--set loss_options.rankng.margin=0.1: loss_options.rankng: unknown loss"),
    (["image_options.dimm=8"], [], "--set image_options.dimm=8: image_options.dimm: image encoder 'tiny-image'"),
    (["loss_options.ranking.margni=0.1"], [], "--set loss_options.ranking.margni=0.1: loss_options.ranking.margni: "),
    (["image_size=big"], [], "--set image_size=big: image_size: expected an integer, got 'big' (a string)"),
    (["device.index=1"], [], "--set device.index=1: device of the suite's run 'instance' is \"cpu\", not a table"),
    (["seed=3"], [], "--set seed=3: 'seed' cannot be overridden: the seeds come from --seeds"),
    (["seeds=[1]"], [], "--set seeds=[1]: 'seeds' is not a run-config key, use --seeds"),
    ([], ["instance.dataset=x"], "--set-run instance.dataset=x: 'dataset' cannot be overridden"),
    (["stages.0.epochs"], [], "--set stages.0.epochs: expected KEY=VALUE"),
])
def test_errors_name_the_flag_and_its_value(registry, tmp_path, sets, set_runs, expected):
    assert expected in refused(registry, tmp_path, sets, set_runs)


@pytest.mark.parametrize("text, forbidden", [("sed=1", "seed"), ("datset=x", "dataset"), ("nme=x", "name"),
                                             ("seeds.0=1", "seed")])
def test_a_forbidden_key_is_never_suggested(registry, tmp_path, text, forbidden):
    assert f"'{forbidden}'" not in refused(registry, tmp_path, [text]).partition(":")[2]


def test_an_error_the_override_did_not_cause_keeps_the_suites_file_and_key(registry, tmp_path):
    data = suite()
    data["defaults"] = {**TINY, "batch_size": 0}
    with pytest.raises(ConfigError) as excinfo:
        plan(registry, tmp_path, ["stages.0.lr=0.5"], data=data)
    assert str(excinfo.value) == ("mini.toml: run 'two-stage': runs[1].batch_size: must be positive, got 0 "
                                  "(with --set stages.0.lr=0.5)")


# --------------------------------------------------------------------------------------------
# Through the command line
# --------------------------------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch, capsys):
    return cli_runner(monkeypatch, capsys, lambda: tiny_plugin_manager(entrypoints=True))


def test_quickstart_dry_run_with_a_shorter_first_stage(cli, tmp_path):
    code, out, err = cli("run", "quickstart", "--seeds", "0", "--set", "stages.0.epochs=1", "--dry-run",
                         "--store", tmp_path / "store")
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()] == ["todo"] * 4
    assert "note: --set stages.0.epochs=1: the suite's run 'ranking-only': stages[0].lr_steps [6] -> []" in err


@pytest.mark.parametrize("args, expected", [
    (["--set", "stages.9.epochs=2"], "--set stages.9.epochs=2: the suite's run 'ranking-only' has 1 stage"),
    (["--set", "image_options={backbone=resnet18}"], "--set image_options={backbone=resnet18}: not a valid TOML"),
    (["--set-run", "ranking-onyl.stages.0.epochs=2"], "did you mean 'ranking-only'?"),
])
def test_command_line_errors_are_one_line_naming_the_flag(cli, tmp_path, args, expected):
    code, out, err = cli("run", "quickstart", "--dry-run", "--store", tmp_path / "store", *args)
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"itr-bench: error: {args[0]} "), err
    assert expected in err and "quickstart.toml" not in err and not (tmp_path / "store").exists()


def test_the_issues_examples_plan_on_the_quickstart(cli, tmp_path):
    code, out, err = cli("run", "quickstart", "--seeds", "0", "--dry-run", "--store", tmp_path / "store",
                         "--set", "stages.0.epochs=2", "--set", "loss_options.infonce.temperature=0.05",
                         "--set", 'image_options={backbone="resnet18"}', "--set", "device=cpu")
    assert code == 0, err
