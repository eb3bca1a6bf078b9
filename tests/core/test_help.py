"""Every command's --help teaches: a whole one-sentence summary in the command list, and examples that parse."""

import re
import shlex

import click
import pytest
from click.testing import CliRunner

from itr_bench.cli import make_cli
from itr_bench.plugins import get_plugin_manager


def cli():
    return make_cli(get_plugin_manager(load_entrypoints=False))


def walk(command, path=("itr-bench",)):
    """``(path, command)`` for the root and every command under it."""
    yield path, command
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from walk(command.commands[name], (*path, name))


PATHS = [path for path, _ in walk(cli())]


def help_text(path):
    result = CliRunner().invoke(cli(), [*path[1:], "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.output


def examples(text):
    """The lines of the help's Examples section, comments dropped."""
    _, found, rest = text.partition("Examples:\n")
    assert found, "no 'Examples:' section"
    lines = []
    for line in rest.splitlines()[1:]:
        if not line.startswith("    "):
            break
        lines.append(line.partition("#")[0].strip())
    return [line for line in lines if line]


@pytest.mark.parametrize("path", PATHS[1:], ids=" ".join)
def test_summary_in_the_command_list_is_one_whole_sentence(path):
    *parent, name = path
    listing = help_text(tuple(parent)).partition("Commands:\n")[2]
    match = re.search(rf"^  {re.escape(name)} +(.*(?:\n {{4,}}.*)*)", listing, re.MULTILINE)
    assert match, f"{name} is not in the command list of {' '.join(parent)}"
    entry = " ".join(match.group(1).split())  # its continuation lines joined
    # click cuts a long first sentence with "..."; short_help (or a short first sentence) avoids it
    assert not entry.endswith("..."), f"{' '.join(path)}: summary cut off in the command list: {entry!r}"
    assert entry[:1].isupper() and entry.endswith(".") and entry.count(". ") == 0, (
        f"{' '.join(path)}: summary is not one full sentence: {entry!r}")


@pytest.mark.parametrize("path", PATHS, ids=" ".join)
def test_help_has_examples_that_parse(path, monkeypatch):
    found = examples(help_text(path))
    prefix = " ".join(path)
    assert any(line == prefix or line.startswith(prefix + " ") for line in found), (
        f"{prefix} --help shows no example invocation of {prefix}: {found}")
    for line in found:
        words = shlex.split(line)
        assert words[0] == "itr-bench", line
        if "--help" in words:
            continue
        parsed = cli()
        for _, command in walk(parsed):
            if command is not parsed:  # parse only; the command objects are shared, so restored after
                monkeypatch.setattr(command, "callback", lambda **kwargs: None)
        try:
            parsed.main(words[1:], prog_name="itr-bench", standalone_mode=False)
        except click.ClickException as exc:
            pytest.fail(f"example {line!r} does not parse: {exc.format_message()}")
