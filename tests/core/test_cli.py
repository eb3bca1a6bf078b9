"""The itr-bench command line: output formats and one-line errors with exit code 2."""

import json
import subprocess
import sys

import pytest

import itr_bench
from itr_bench.cli import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"itr-bench {itr_bench.__version__}"


def test_help_lists_commands(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "plugins" in out and "list" in out


def test_plugins_json_shows_third_party_with_hooks(capsys, fake_entry_points, loss_plugin):
    fake_entry_points(("itr-bench-zeta", "2.0", "zeta", loss_plugin("zeta_mod", "zeta")))
    code, out, _ = run(capsys, "plugins", "--json")
    assert code == 0
    plugins = {p["name"]: p for p in json.loads(out)}
    assert plugins["zeta"] == {
        "name": "zeta", "hooks": ["register_losses"], "version": "2.0",
        "distribution": "itr-bench-zeta", "builtin": False,
    }
    assert all(p["builtin"] for name, p in plugins.items() if name != "zeta")


def test_plugins_hook_filter(capsys, fake_entry_points, loss_plugin):
    fake_entry_points(("itr-bench-zeta", "2.0", "zeta", loss_plugin("zeta_mod", "zeta")))
    _, out, _ = run(capsys, "plugins", "--json", "--hook", "register_losses")
    assert "zeta" in [p["name"] for p in json.loads(out)]
    _, out, _ = run(capsys, "plugins", "--json", "--hook", "register_suites")
    assert "zeta" not in [p["name"] for p in json.loads(out)]


def test_plugins_table(capsys, fake_entry_points, loss_plugin):
    fake_entry_points(("itr-bench-zeta", "2.0", "zeta", loss_plugin("zeta_mod", "zeta")))
    _, out, _ = run(capsys, "plugins")
    header, *rows = out.splitlines()
    assert header.split() == ["NAME", "VERSION", "FROM", "HOOKS"]
    assert any(r.split()[:4] == ["zeta", "2.0", "itr-bench-zeta", "register_losses"] for r in rows)


def test_list_losses_with_owner_filter_and_json(capsys, fake_entry_points, loss_plugin):
    fake_entry_points(("itr-bench-zeta", "2.0", "zeta", loss_plugin("zeta_mod", "zeta-a", "zeta-b")))
    _, out, _ = run(capsys, "list", "losses", "--filter", "zeta-*")
    header, *rows = out.splitlines()
    assert header.split() == ["KIND", "NAME", "PLUGIN", "DESCRIPTION"]
    assert [r.split()[:3] for r in rows] == [["loss", "zeta-a", "zeta"], ["loss", "zeta-b", "zeta"]]
    _, out, _ = run(capsys, "list", "--json", "--filter", "zeta-a")
    assert [(i["kind"], i["name"], i["plugin"]) for i in json.loads(out)] == [("loss", "zeta-a", "zeta")]


def one_line_error(code, out, err, *fragments):
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("itr-bench: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def test_duplicate_component_is_one_line_exit_2(capsys, fake_entry_points, loss_plugin):
    fake_entry_points(
        ("dist-one", "1", "one", loss_plugin("one_mod", "same")),
        ("dist-two", "1", "two", loss_plugin("two_mod", "same")),
    )
    # pluggy calls the later registered plugin first, so 'two' registered the name first
    one_line_error(*run(capsys, "list", "losses"), "'same' is registered by both 'two' and 'one'")


def test_unknown_kind_is_one_line_exit_2(capsys):
    one_line_error(*run(capsys, "list", "losss"), "unknown component kind 'losss'", "did you mean 'losses'")


def test_unknown_command_and_option_are_one_line_exit_2(capsys):
    one_line_error(*run(capsys, "trian"), "No such command 'trian'")
    one_line_error(*run(capsys, "list", "--bogus"), "No such option '--bogus'", "itr-bench list --help")


def test_broken_plugin_is_one_line_exit_2(capsys, fake_entry_points):
    fake_entry_points(("broken-dist", "0.1", "broken", ImportError("No module named 'torchx'")))
    one_line_error(*run(capsys, "plugins"), "plugin 'broken'", "could not be imported")


def test_debug_shows_the_traceback(fake_entry_points):
    fake_entry_points(("broken-dist", "0.1", "broken", ImportError("No module named 'torchx'")))
    with pytest.raises(itr_bench.errors.PluginError):
        main(["--debug", "plugins"])


def test_plugin_commands_are_added_and_clashes_named(capsys, fake_entry_points):
    import types

    import click

    adds = types.ModuleType("adds_cmd")

    @itr_bench.hookimpl
    def register_commands(cli):
        @cli.command(name="hello")
        def hello():
            """Say hello."""
            click.echo("hello from a plugin")

    adds.register_commands = register_commands
    clashes = types.ModuleType("clash_cmd")

    @itr_bench.hookimpl
    def register_commands(cli):  # noqa: F811
        @cli.command(name="list")
        def my_list():
            pass

    clashes.register_commands = register_commands
    fake_entry_points(("adds-dist", "1", "adds", adds))
    assert run(capsys, "hello")[:2] == (0, "hello from a plugin\n")
    fake_entry_points(("clash-dist", "1", "clash", clashes))
    one_line_error(*run(capsys, "list"), "plugin 'clash' defines command 'list', which already exists")


def test_console_script_error_has_no_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "itr_bench.cli", "list", "widgets"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("itr-bench: error: unknown component kind 'widgets'")
    assert "Traceback" not in proc.stderr
