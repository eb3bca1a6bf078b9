"""The ``itr-bench`` command line.

The command group is built per invocation by :func:`make_cli` from a plugin manager, so tests
and embedding programs never share state. User errors (:class:`ItrBenchError`, bad options)
and file-system errors (a full disk, a read-only folder: the path and the cause) print one line
on stderr and exit 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from . import __version__
from .commands import App
from .errors import ItrBenchError, PluginError, describe_os_error
from .plugins import PluginManager, call_each, get_plugin_manager

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
    from .commands import (
        evaluate,
        fetch_weights,
        leaderboard,
        listing,
        new_plugin,
        plugins,
        prepare,
        report,
        run,
        train,
        tune,
    )

    return [plugins.command, listing.command, prepare.command, fetch_weights.command, train.command, evaluate.command,
            run.command, tune.command, leaderboard.command, report.command, new_plugin.command]


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
