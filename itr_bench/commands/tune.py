"""``itr-bench tune SUITE``: the same search budget for every run, on validation, then the tuned runs."""

from __future__ import annotations

from pathlib import Path

import click

from . import App, set_run_option, training_options


@click.command("tune", short_help="Tune every run of a suite alike on validation, then retrain the best.")
@click.argument("suite")
@click.option("--trials", type=int, default=None, help="Finished trials per run (default: the suite's tune.trials).")
@click.option("--storage", default=None, metavar="URL",
              help="Optuna storage URL shared by every process (default: sqlite:///<store>/<suite>/tune.db).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes (or Ray tasks per run) running trials at once on one storage.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--ray-address", default=None, help="Ray cluster address (default: start a local Ray).")
@click.option("--root", "roots", multiple=True, metavar="[DATASET=]DIR",
              help="A dataset's local folder (repeatable); DIR alone when the suite has one dataset.")
@click.option("--datasets", default=None, help="Comma-separated subset of the suite's datasets.")
@click.option("--seeds", default=None, help="Comma-separated seeds of the tuned runs instead of the suite's.")
@click.option("--store", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
              help="Run store: trials under <store>/<suite>/, tuned runs under <store>/<suite>-tuned/.")
@click.option("--leaderboard-dir", type=click.Path(path_type=Path), default=None,
              help="Where the tuned leaderboard goes (default: <store>/<suite>-tuned/leaderboard).")
@click.option("--with-defaults", is_flag=True,
              help="Show each run's default-settings score (the records of 'itr-bench run SUITE' in the "
                   "same store) beside its tuned one.")
@click.option("--baseline", "baselines", multiple=True, metavar="RUN",
              help="Compare the tuned leaderboard's rows with this run (as 'itr-bench leaderboard --baseline').")
@click.option("--search-only", is_flag=True, help="Run the trials only; no tuned runs, no leaderboard.")
@click.option("--dry-run", is_flag=True,
              help="Check the suite and its [tune] table and print the plan: runs x trials x epochs, and the time "
                   "one trial took when the store holds one.")
@training_options(set_run_option())
@click.pass_obj
def command(app: App, suite: str, trials: int | None, storage: str | None, jobs: int, executor: str,
            ray_address: str | None, roots: tuple[str, ...], datasets: str | None, seeds: str | None, store: Path,
            leaderboard_dir: Path | None, with_defaults: bool, baselines: tuple[str, ...], search_only: bool,
            dry_run: bool, overrides: tuple[str, ...], run_overrides: tuple[str, ...], report_to: str | None,
            rerun_changed: bool, restart_damaged: bool, no_progress: bool) -> None:
    """Tune SUITE (a registered suite or a TOML file with a [tune] table): every run gets the same
    trials of the same epochs, scored on validation only (Optuna TPE, one study per dataset and
    run); then each run's best setting is retrained on the suite's seeds as <suite>-tuned and
    scored once on test. Killed at any moment, the same command continues where it stopped.

    Examples:

    \b
      itr-bench tune leaderboards/configs/loss-shootout-tuned.toml --dry-run
      itr-bench tune my-suite.toml --trials 20 --jobs 2
      itr-bench tune my-suite.toml --storage postgresql://user@host/db --executor ray --jobs 4
    """
    from ..overrides import SUITE_FORBIDDEN, Overrides
    from ..suites.plan import load_suite
    from ..trackers import parse_report_to
    from ..tuning.plan import TunePlan

    data, where = load_suite(suite, app.registry)
    from .run import _roots

    suite_datasets = datasets.split(",") if datasets else list(data.get("suite", {}).get("datasets", []))
    plan = TunePlan.make(data, app.registry, where, store, trials=trials, storage=storage,
                         per_dataset=_roots(roots, suite_datasets),
                         seeds=[int(s) for s in seeds.split(",")] if seeds else None,
                         only_datasets=datasets.split(",") if datasets else None,
                         overrides=Overrides.parse(overrides, run_overrides, SUITE_FORBIDDEN),
                         say=lambda line: click.echo(line, err=True))
    if dry_run:
        for line in plan.describe():
            click.echo(line)
        return
    plan.open_studies()
    errors = plan.search(jobs, executor, ray_address, progress=not no_progress)
    if not search_only:
        errors += plan.finish(rerun_changed, restart_damaged, executor, ray_address, not no_progress,
                              leaderboard_dir, with_defaults,
                              parse_report_to(report_to) if report_to is not None else None, baselines)
    for error in errors:
        click.echo(f"failed: {error}", err=True)
    if errors:
        click.echo(f"{len(errors)} problems; rerun the same command to retry (finished trials and runs are kept)",
                   err=True)
        click.get_current_context().exit(2)
