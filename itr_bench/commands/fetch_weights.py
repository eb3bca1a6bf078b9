"""``itr-bench fetch-weights SUITE``: download the pretrained weights a suite (or run config) needs.

The only command that touches the network. Weights go to the usual caches (the Hugging Face
hub cache, ``$HF_HOME`` / ``$HF_HUB_CACHE``; torch hub for URL-only files), where runs, which
never download, find them. Weights already cached are not fetched again.
"""

from __future__ import annotations

from pathlib import Path

import click

from . import App


@click.command("fetch-weights", short_help="Download the pretrained weights a suite needs.")
@click.argument("suite")
@click.option("--datasets", default=None, help="Comma-separated subset of the suite's datasets.")
@click.option("--dry-run", is_flag=True,
              help="List the weights and whether they are cached; fetch nothing (exit 1 if any is missing).")
@click.pass_obj
def command(app: App, suite: str, datasets: str | None, dry_run: bool) -> None:
    """Fetch the pretrained weights SUITE (a registered suite, a suite TOML or a run config TOML) needs.

    Runs never download: run this once on a machine that is online.

    Examples:

    \b
      itr-bench fetch-weights paper-ablation --dry-run   # cached or missing
      itr-bench fetch-weights paper-ablation --datasets flickr8k
    """
    from ..config import load_run_config, read_toml
    from ..suites import expand, load_suite
    from ..pretrained import declared, sha256

    path = Path(suite)
    if suite.endswith(".toml") and "run" in read_toml(path):
        configs = [load_run_config(path)]
    else:
        data, where = load_suite(suite, app.registry)
        configs = [run.config for run in expand(data, app.registry, where, Path("runs"), check_weights=False,
                                                only_datasets=datasets.split(",") if datasets else None)]
    wanted = {}
    for config in configs:
        for _, weights in declared(config, app.registry):
            if weights.use is not False:
                wanted.setdefault(weights.name, weights)
    if not wanted:
        click.echo(f"{suite}: loads no pretrained weights; nothing to fetch", err=True)
        return
    missing = 0
    for name, weights in wanted.items():
        found = weights.locate()
        if found is None and not dry_run:
            if weights.fetch is None:
                from ..errors import ConfigError

                raise ConfigError(f"{suite}: {name} is not on this machine and cannot be fetched ({weights.where})")
            click.echo(f"fetching {name} ...", err=True)
            found = weights.fetch()
        if found is None:
            missing += 1
            click.echo(f"missing  {name}  ({weights.where})")
        else:
            click.echo(f"cached   {name}  {found}  sha256:{sha256(found)}")
    if missing:  # only with --dry-run: a script can tell that runs would be refused
        click.get_current_context().exit(1)
