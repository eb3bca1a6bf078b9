"""``itr-bench fetch-weights SUITE``: download the pretrained weights a suite (or run config) needs.

The only command that touches the network. Weights go to the usual caches (the Hugging Face
hub cache, ``$HF_HOME`` / ``$HF_HUB_CACHE``; torch hub for URL-only files), where runs, which
never download, find them. Weights already cached are not fetched again.
"""

from __future__ import annotations

from pathlib import Path

import click

from . import App, set_option, set_run_option


@click.command("fetch-weights", short_help="Download the pretrained weights a suite needs.")
@click.argument("suite")
@click.option("--datasets", default=None, help="Comma-separated subset of the suite's datasets.")
@click.option("--dry-run", is_flag=True,
              help="List the weights and whether they are cached; fetch nothing (exit 1 if any is missing).")
@set_option()
@set_run_option()
@click.pass_obj
def command(app: App, suite: str, datasets: str | None, dry_run: bool, overrides: tuple[str, ...],
            run_overrides: tuple[str, ...]) -> None:
    """Fetch the pretrained weights SUITE (a registered suite, a suite TOML or a run config TOML) needs.

    Runs never download: run this once on a machine that is online. Give it the same
    --set/--set-run as the run: an override can change the weights a run loads.

    Examples:

    \b
      itr-bench fetch-weights paper-ablation --dry-run   # cached or missing
      itr-bench fetch-weights paper-ablation --datasets flickr8k
    """
    from ..config import RunConfig, build, read_run_mapping, read_toml
    from ..errors import ConfigError
    from ..overrides import SUITE_FORBIDDEN, TRAIN_FORBIDDEN, Overrides, apply, blamed_on
    from ..pretrained import declared, sha256
    from ..suites.plan import expand, load_suite

    path = Path(suite)
    if suite.endswith(".toml") and "run" in read_toml(path):
        if run_overrides:
            raise ConfigError(f"--set-run {run_overrides[0]}: {suite} is one run: use --set")
        changes = Overrides.parse(overrides, forbidden=TRAIN_FORBIDDEN).every
        data, _ = apply(read_run_mapping(path), changes, suite)
        with blamed_on(changes, suite):
            configs = [build(RunConfig, data, suite)]
    else:
        data, where = load_suite(suite, app.registry)
        configs = [run.config for run in expand(data, app.registry, where, Path("runs"), check_weights=False,
                                                only_datasets=datasets.split(",") if datasets else None,
                                                overrides=Overrides.parse(overrides, run_overrides, SUITE_FORBIDDEN))]
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
