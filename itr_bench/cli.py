"""The ``itr-bench`` command line.

The command group is built per invocation by :func:`make_cli` from a plugin manager, so tests
and embedding programs never share state. User errors (:class:`ItrBenchError`, bad options)
and file-system errors (a full disk, a read-only folder: the path and the cause) print one line
on stderr and exit 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import ItrBenchError, PluginError, describe_os_error
from .commands import App, dataset_options_flag
from .registry import KIND_ALIASES
from .plugins import PluginManager, call_each, get_plugin_manager, plugin_infos

DEBUG_ENV = "ITR_BENCH_DEBUG"
PROG = "itr-bench"


class CommandGroup(click.Group):
    """A click group that refuses to replace a command (a plugin clash is an error)."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        name = name or cmd.name
        if name in self.commands:
            raise PluginError(f"command {name!r} is defined twice")
        super().add_command(cmd, name)


def make_cli(pm: PluginManager) -> click.Group:
    """The root command with the built-in commands and every plugin's commands."""

    @click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(__version__, "--version", prog_name=PROG, message="%(prog)s %(version)s")
    @click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
    @click.pass_context
    def cli(ctx: click.Context, debug: bool) -> None:
        """Benchmark image-text retrieval losses: same backbone, same budget, several seeds.

        Examples:

        \b
          itr-bench run quickstart          # the paper's ablation, synthetic data
          itr-bench list losses             # what is registered, by which plugin
          itr-bench run --help              # each command's help and examples
        """
        ctx.obj = App(pm, debug=debug or bool(os.environ.get(DEBUG_ENV)))

    for command in _builtin_commands():
        cli.add_command(command)
    call_each(pm, "register_commands", lambda owner: {"cli": _OwnedGroup(cli, owner)})
    return cli


class _OwnedGroup:
    """The root group as a plugin sees it: clashes name the plugin that caused them."""

    def __init__(self, group: click.Group, owner: str) -> None:
        self._group, self._owner = group, owner

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        try:
            self._group.add_command(cmd, name)
        except PluginError:
            raise PluginError(f"plugin {self._owner!r} defines command {name or cmd.name!r}, which already exists") from None

    def command(self, *args: Any, **kwargs: Any):
        def decorator(f):
            cmd = click.command(*args, **kwargs)(f)
            self.add_command(cmd)
            return cmd

        return decorator

    def group(self, *args: Any, **kwargs: Any):
        def decorator(f):
            grp = click.group(*args, **kwargs)(f)
            self.add_command(grp)
            return grp

        return decorator

    def __getattr__(self, name: str) -> Any:
        return getattr(self._group, name)


def _builtin_commands() -> list[click.Command]:
    from .commands import evaluate, fetch_weights, leaderboard, new_plugin, prepare, report, run, train, tune

    return [plugins_command, list_command, prepare.command, fetch_weights.command, train.command, evaluate.command,
            run.command, tune.command, leaderboard.command, report.command, new_plugin.command]


# --------------------------------------------------------------------------------------------
# itr-bench plugins
# --------------------------------------------------------------------------------------------


@click.command("plugins", short_help="List installed plugins, their versions and their hooks.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--hook", "hooks", multiple=True, metavar="HOOK", help="Only plugins implementing HOOK.")
@click.pass_obj
def plugins_command(app: App, as_json: bool, hooks: tuple[str, ...]) -> None:
    """List installed plugins: name, version, where each comes from and the hooks it implements.

    Examples:

    \b
      itr-bench plugins
      itr-bench plugins --hook register_losses --json
    """
    infos = [i for i in plugin_infos(app.pm) if not hooks or set(hooks) & set(i.hooks)]
    if as_json:
        click.echo(json.dumps([i.as_dict() for i in infos], indent=2))
        return
    rows = [(i.name, i.version or "-", "built-in" if i.builtin else (i.distribution or "-"), ", ".join(i.hooks))
            for i in infos]
    _echo_table(("NAME", "VERSION", "FROM", "HOOKS"), rows)


# --------------------------------------------------------------------------------------------
# itr-bench list
# --------------------------------------------------------------------------------------------


@click.command("list", short_help="List registered components with their plugin and description.")
@click.argument("kind", required=False, metavar="[KIND]")
@click.option("--filter", "pattern", metavar="GLOB", help="Only names matching GLOB, e.g. 'info*'.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--options", "show_options", is_flag=True,
              help="Each component's options: name, type, default and help.")
@click.option("--stats", "stats_of", metavar="DATASET", help="Counts per split of DATASET (with --root).")
@click.option("--root", type=click.Path(path_type=Path), default=None, help="The dataset's folder, for --stats.")
@dataset_options_flag("Dataset option, for --stats (repeatable).")
@click.pass_obj
def list_command(app: App, kind: str | None, pattern: str | None, as_json: bool, show_options: bool,
                 stats_of: str | None, root: Path | None, options: dict[str, Any]) -> None:
    """List registered components, optionally of one KIND.

    KIND is one of: image-encoders, text-encoders, losses, negative-samplers, datasets, suites, trackers.

    Examples:

    \b
      itr-bench list losses
      itr-bench list losses --options --json
      itr-bench list --filter 'dualpath*' --json
      itr-bench list datasets --stats flickr8k --root data/flickr8k
    """
    if stats_of is not None:
        _dataset_stats(app, kind, stats_of, root, options, as_json)
        return
    infos = app.registry.list(kind, pattern)
    if as_json:
        click.echo(json.dumps([i.as_dict(options=show_options) for i in infos], indent=2))
        return
    rows = [(i.kind.replace("_", "-"), i.name, i.plugin, i.description) for i in infos]
    if not rows:
        click.echo("no components match", err=True)
        return
    if show_options:
        _echo_options(infos)
        return
    _echo_table(("KIND", "NAME", "PLUGIN", "DESCRIPTION"), rows)


def _echo_options(infos: Sequence[Any]) -> None:
    """Per component, a header line and one row per option (what a config's ``*_options`` table takes)."""
    for index, info in enumerate(infos):
        if index:
            click.echo("")
        click.echo(f"{info.kind.replace('_', '-')} {info.name} ({info.plugin}): {info.description}")
        rows = [(f"  {o.name}", o.type_text or "-", "required" if o.required else repr(o.default),
                 "-" if o.search is None else str(o.search), o.help)
                for o in info.options]
        if info.options.open:
            rows.append(("  ...", "-", "-", "-", "other options are passed on unchecked (**kwargs)"))
        if rows:
            _echo_table(("  OPTION", "TYPE", "DEFAULT", "TUNE SEARCH", "HELP"), rows)
        else:
            click.echo("  no options")


def _dataset_stats(app: App, kind: str | None, name: str, root: Path | None, options: dict[str, Any],
                   as_json: bool) -> None:
    from .data.stats import dataset_stats
    if kind is not None and KIND_ALIASES.get(kind) != "dataset":
        raise click.UsageError("--stats applies to datasets: itr-bench list datasets --stats NAME --root DIR")
    dataset = app.registry.build("dataset", name, root, options=options, where="--stats", key="-o")
    rows = dataset_stats(dataset)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    _echo_table(("SPLIT", "IMAGES", "CAPTIONS", "INSTANCES", "PROTOCOL", "FOLDS"),
                [tuple(str(row[k]) for k in ("split", "images", "captions", "instances", "protocol", "folds")) for row in rows])


def _echo_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[c])) for r in [header, *rows]) for c in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths)]
        click.echo("  ".join([*cells, str(row[-1])]).rstrip())


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns (and, as a console script, exits with) the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or bool(os.environ.get(DEBUG_ENV))
    try:
        cli = make_cli(get_plugin_manager())
        result = cli.main(args=args, prog_name=PROG, standalone_mode=False)
        return result if isinstance(result, int) else 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        return _fail(exc.format_message() + hint, exc.exit_code)
    except click.ClickException as exc:
        return _fail(exc.format_message(), exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        return _fail("interrupted", 130)
    except ItrBenchError as exc:
        if debug:
            raise
        return _fail(str(exc), exc.exit_code)
    except OSError as exc:  # a full disk, a read-only or unwritable folder: the path and the cause
        if debug:
            raise
        return _fail(describe_os_error(exc), 2)
    except MemoryError as exc:  # an allocation the machine cannot hold: say so and what to lower
        if debug:
            raise
        from .store.failures import describe_failure

        return _fail(describe_failure(exc).line, 2)


def _fail(message: str, code: int) -> int:
    click.echo(f"{PROG}: error: {' '.join(message.split())}", err=True)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
