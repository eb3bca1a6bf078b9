"""Settings every command shares live in one place: the cache lookup, the evaluation batch size
and the ``-o KEY=VALUE`` dataset options."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from itr_bench.cli import main, make_cli
from itr_bench.commands import dataset_options_flag
from itr_bench.data.cache_location import CACHE_ENV, cache_dir
from itr_bench.engine.evaluate import MIN_EVAL_BATCH, eval_batch_size
from itr_bench.plugins import get_plugin_manager


def test_cache_dir_given_beats_the_environment_which_beats_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env"))
    assert cache_dir(tmp_path / "given") == tmp_path / "given"
    assert cache_dir(None) == tmp_path / "env"
    monkeypatch.delenv(CACHE_ENV)
    assert cache_dir(None) == Path.home() / ".cache" / "itr-bench"


def test_cache_dir_expands_the_home_and_ignores_an_empty_variable(monkeypatch):
    monkeypatch.setenv(CACHE_ENV, "")  # an empty variable is unset, not the current folder
    assert cache_dir(None) == Path.home() / ".cache" / "itr-bench"
    assert cache_dir("~/elsewhere") == Path.home() / "elsewhere"


def test_the_prepare_command_uses_the_environment_variable(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "from-env"))
    code = main(["prepare", "synthetic", "--image-size", "24", "-o", "train=4", "-o", "val=2",
                 "-o", "test=2"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "from-env").is_dir() and any((tmp_path / "from-env").iterdir())


def test_eval_batch_size_is_the_training_size_at_least_the_minimum():
    assert eval_batch_size(8) == MIN_EVAL_BATCH
    assert eval_batch_size(500) == 500


def test_every_dataset_option_flag_is_the_shared_one():
    """A command that takes ``-o`` gets it from :func:`dataset_options_flag`, so the parsing (JSON
    values, dashes to underscores, one line for a malformed option) is the same everywhere."""
    shared = dataset_options_flag("x")(click.command()(lambda options: None)).params[0].callback
    cli = make_cli(get_plugin_manager())
    found = []
    for name, command in cli.commands.items():
        for param in command.params:
            if "-o" in param.opts:
                found.append(name)
                assert param.callback.__code__ is shared.__code__, f"{name}: parses -o itself"
    assert {"evaluate", "prepare", "list"} <= set(found)


@pytest.mark.parametrize("args", [["prepare", "synthetic"], ["list", "datasets", "--stats", "synthetic"],
                                  ["evaluate", "nowhere"]])
def test_a_malformed_dataset_option_is_one_line_exit_2(args, capsys):
    assert main([*args, "-o", "no-equals-sign"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'no-equals-sign' is not KEY=VALUE" in err
