"""``itr-bench run SUITE``: every run x dataset x seed of a suite, resumable, then its leaderboard."""

from __future__ import annotations

from pathlib import Path

import click

from . import App, parse_option


@click.command("run")
@click.argument("suite")
@click.option("--root", "roots", multiple=True, metavar="[DATASET=]DIR",
              help="A dataset's local folder (repeatable); DIR alone when the suite has one dataset.")
@click.option("--datasets", default=None, help="Comma-separated subset of the suite's datasets.")
@click.option("--seeds", default=None, help="Comma-separated seeds instead of the suite's.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a run-config key of every run over the suite's defaults (repeatable), "
                   "e.g. --set device=cuda.")
@click.option("--store", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
              help="Run store: one folder per run with its record.json.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--ray-address", default=None, help="Ray cluster address (default: start a local Ray).")
@click.option("--leaderboard-dir", type=click.Path(path_type=Path), default=None,
              help="Where the CSV/Markdown/PNG go (default: <store>/<suite>/leaderboard).")
@click.option("--dry-run", is_flag=True,
              help="Validate (each dataset's annotations are read, not its images) and list the runs without training.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@click.pass_obj
def command(app: App, suite: str, roots: tuple[str, ...], datasets: str | None, seeds: str | None,
            overrides: tuple[str, ...], store: Path, executor: str, ray_address: str | None,
            leaderboard_dir: Path | None, dry_run: bool, no_progress: bool) -> None:
    """Run SUITE (a registered suite or a TOML file): finished runs are skipped, unfinished resumed."""
    from ..errors import ConfigError
    from ..leaderboard import aggregate, load_records, render_text, write_leaderboards
    from ..suites import check_datasets, execute_local, execute_ray, expand, load_suite

    data, where = load_suite(suite, app.registry)
    suite_datasets = datasets.split(",") if datasets else list(data.get("suite", {}).get("datasets", []))
    per_dataset = _roots(roots, suite_datasets)
    for key, value in map(parse_option, overrides):
        if key in ("stages", "dataset", "seed"):
            raise ConfigError(f"--set {key}: cannot be overridden from the command line")
        for dataset in suite_datasets:
            per_dataset.setdefault(dataset, {})[key] = value
    seed_list = [int(s) for s in seeds.split(",")] if seeds else None
    runs = expand(data, app.registry, where, store, datasets=per_dataset, seeds=seed_list,
                  only_datasets=datasets.split(",") if datasets else None,
                  fetch_hint=f"itr-bench fetch-weights {suite}")
    name = runs[0].suite
    done = sum(run.finished for run in runs)
    description = data.get("suite", {}).get("description")
    click.echo(f"suite {name}: {len(runs)} runs ({done} already finished) -> {store / name}", err=True)
    if description:
        click.echo(f"  {description}", err=True)
    if dry_run:
        for line in check_datasets(runs, app.registry):
            click.echo(line, err=True)
        for run in runs:
            click.echo(f"{'done' if run.finished else 'todo'}  {run.label}  {run.folder}")
        return
    outcomes = (execute_ray(runs, address=ray_address) if executor == "ray"
                else execute_local(runs, app.registry, progress=not no_progress))
    records = load_records(store / name)
    table = aggregate(records)
    if not table.empty:
        written = write_leaderboards(table, leaderboard_dir or store / name / "leaderboard", records.attrs["failed"],
                                     records)
        click.echo(render_text(table))
        click.echo(f"leaderboard: {', '.join(str(p) for p in written)}", err=True)
    failed = [o for o in outcomes if o.status == "failed"]
    for outcome in failed:
        click.echo(f"failed: {outcome.run.label}: {outcome.reason}", err=True)
    if failed:
        click.get_current_context().exit(1)


def _roots(roots: tuple[str, ...], datasets: list[str]) -> dict[str, dict[str, str]]:
    from ..errors import ConfigError

    out: dict[str, dict[str, str]] = {}
    for spec in roots:
        name, equals, path = spec.partition("=")
        if not equals:
            if len(datasets) != 1:
                raise ConfigError(f"--root {spec}: the suite has several datasets; write --root DATASET=DIR")
            name, path = datasets[0], spec
        if name not in datasets:
            raise ConfigError(f"--root {spec}: {name!r} is not one of the suite's datasets ({', '.join(datasets)})")
        out[name] = {"root": path}
    return out
