"""Core commands of the ``itr-bench`` CLI, one module each, and what they share.

Internal: see :mod:`itr_bench.layers`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

import click

from ..errors import ConfigError
from ..plugins import PluginManager, load_registry
from ..registry import Registry


class App:
    """What every command gets through ``click.pass_obj``: the plugins and their registry."""

    def __init__(self, pm: PluginManager, debug: bool = False) -> None:
        self.pm = pm
        #: ``--debug``: show tracebacks (commands that report failures and go on print them too)
        self.debug = debug

    @cached_property
    def registry(self) -> Registry:
        return load_registry(self.pm)


def parse_option(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as JSON when it parses (numbers, true, lists), else a string."""
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise ConfigError(f"option {text!r} is not KEY=VALUE")
    try:
        return key.replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return key.replace("-", "_"), value


def dataset_options_flag(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The ``--option/-o KEY=VALUE`` flag (repeatable) of every command that builds a dataset; the
    command gets ``options`` as a dict, each value read by :func:`parse_option` (the last of a
    repeated key wins)."""
    return click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE", help=help,
                        callback=lambda _ctx, _param, values: dict(map(parse_option, values)))


#: What ``--set`` means, for every command that takes it.
SET_HELP = ("Override a run-config key, dotted into tables and lists (repeatable); the value is TOML, "
            "a bare word a string: --set stages.0.epochs=2, --set loss_options.infonce.temperature=0.05, "
            "--set 'image_options={backbone=\"resnet18\"}', --set device=cuda.")


def set_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--set KEY=VALUE`` (repeatable): the command gets the texts as ``overrides``."""
    return click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)


def set_run_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--set-run RUN.KEY=VALUE`` (repeatable) of the commands that plan a suite: ``run_overrides``."""
    return click.option("--set-run", "run_overrides", multiple=True, metavar="RUN.KEY=VALUE",
                        help="Like --set, for one run of the suite only (after every --set), e.g. "
                             "--set-run ranking-only.stages.0.lr=0.05.")


def report_to_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--report-to NAMES``: experiment trackers that follow the runs; the command gets ``report_to``."""
    return click.option("--report-to", "report_to", default=None, metavar="TRACKER[,TRACKER]",
                        help="Experiment trackers that follow each run, comma-separated (itr-bench list trackers): "
                             "tensorboard, mlflow, wandb (offline). Not part of a run's config: adding it never "
                             "makes a finished run 'changed'.")


def training_options(*after_set: Callable[[Any], Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options ``run`` and ``train`` share: ``--set`` and how a run folder's state is settled.

    The command receives ``overrides`` (the ``--set`` texts, read by
    :class:`itr_bench.overrides.Overrides`), ``rerun_changed``, ``restart_damaged`` and
    ``no_progress``; ``after_set`` are a command's own options shown right after ``--set``.
    """
    options = [
        set_option(),
        *after_set,
        report_to_option(),
        click.option("--rerun-changed", is_flag=True,
                     help="Retrain a run whose folder was trained under another config (the old folder is moved "
                          "aside, not deleted). Without it such a run is refused."),
        click.option("--restart-damaged", is_flag=True,
                     help="Retrain from scratch a run whose record or checkpoint is damaged (moved aside, not deleted)."),
        click.option("--no-progress", is_flag=True, help="No progress bars."),
    ]

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


def echo_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Rows in aligned columns under ``header`` (the last column unpadded), as ``plugins`` and ``list`` print them."""
    widths = [max(len(str(r[c])) for r in [header, *rows]) for c in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths)]
        click.echo("  ".join([*cells, str(row[-1])]).rstrip())
