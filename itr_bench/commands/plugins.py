"""``itr-bench plugins``: the installed plugins, their versions, where they come from and their hooks."""

from __future__ import annotations

import json

import click

from ..plugins import plugin_infos
from . import App
from . import echo_table as _echo_table


@click.command("plugins", short_help="List installed plugins, their versions and their hooks.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--hook", "hooks", multiple=True, metavar="HOOK", help="Only plugins implementing HOOK.")
@click.pass_obj
def command(app: App, as_json: bool, hooks: tuple[str, ...]) -> None:
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
