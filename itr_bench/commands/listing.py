"""``itr-bench list [KIND]``: registered components with their plugin, description and options."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ..registry import KIND_ALIASES
from . import App, dataset_options_flag
from . import echo_table as _echo_table


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
def command(app: App, kind: str | None, pattern: str | None, as_json: bool, show_options: bool,
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
    from ..data.stats import dataset_stats

    if kind is not None and KIND_ALIASES.get(kind) != "dataset":
        raise click.UsageError("--stats applies to datasets: itr-bench list datasets --stats NAME --root DIR")
    dataset = app.registry.build("dataset", name, root, options=options, where="--stats", key="-o")
    rows = dataset_stats(dataset)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    _echo_table(("SPLIT", "IMAGES", "CAPTIONS", "INSTANCES", "PROTOCOL", "FOLDS"),
                [tuple(str(row[k]) for k in ("split", "images", "captions", "instances", "protocol", "folds")) for row in rows])
