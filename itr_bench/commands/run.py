"""``itr-bench run SUITE``: every run x dataset x seed of a suite, resumable, then its leaderboard."""

from __future__ import annotations

from pathlib import Path

import click

from . import App, set_run_option, training_options


@click.command("run", short_help="Run a suite's runs x datasets x seeds, then its leaderboard.")
@click.argument("suite")
@click.option("--root", "roots", multiple=True, metavar="[DATASET=]DIR",
              help="A dataset's local folder (repeatable); DIR alone when the suite has one dataset.")
@click.option("--datasets", default=None, help="Comma-separated subset of the suite's datasets.")
@click.option("--seeds", default=None, help="Comma-separated seeds instead of the suite's.")
@click.option("--store", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
              help="Run store: one folder per run with its record.json.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Local executor: runs trained at once, each in a worker process on its share of the "
                   "CPU threads (default: the suite's jobs, else 1).")
@click.option("--ray-address", default=None, help="Ray cluster address (default: start a local Ray).")
@click.option("--leaderboard-dir", type=click.Path(path_type=Path), default=None,
              help="Where the CSV/Markdown/PNG go (default: <store>/<suite>/leaderboard).")
@click.option("--dry-run", is_flag=True,
              help="Validate (each dataset's annotations are read, not its images) and list the runs "
                   "(done, todo, changed, damaged) without training.")
@training_options(set_run_option())
@click.pass_obj
def command(app: App, suite: str, roots: tuple[str, ...], datasets: str | None, seeds: str | None,
            run_overrides: tuple[str, ...], store: Path, executor: str, jobs: int | None, ray_address: str | None,
            leaderboard_dir: Path | None, dry_run: bool, overrides: tuple[str, ...], report_to: str | None,
            rerun_changed: bool, restart_damaged: bool, no_progress: bool) -> None:
    """Run SUITE (a registered suite or a TOML file): finished runs are skipped, unfinished resumed.

    A run is only reused or resumed when its stored config equals the planned one; several
    processes may run one suite on one store at once and share its runs.

    Examples:

    \b
      itr-bench run quickstart
      itr-bench run paper-ablation --datasets flickr8k --root data/flickr8k --dry-run
      itr-bench run my-suite.toml --seeds 0,1 --store runs
      itr-bench run quickstart --seeds 0 --set stages.0.epochs=1 --set-run ranking-only.stages.0.lr=0.05
      itr-bench run quickstart --report-to tensorboard,wandb
      itr-bench run my-suite.toml --jobs 2
    """
    from ..data.identity import planned_data_fingerprints
    from ..errors import ItrBenchError, describe_os_error
    from ..overrides import SUITE_FORBIDDEN, Overrides
    from ..store.state import CHANGED, DAMAGED, DONE, Policy, refuse
    from ..suites.executors import execute_local, execute_parallel, execute_ray, outcome_line
    from ..suites.plan import check_datasets, expand, load_suite, suite_jobs
    from ..trackers import parse_report_to

    data, where = load_suite(suite, app.registry)
    suite_datasets = datasets.split(",") if datasets else list(data.get("suite", {}).get("datasets", []))
    per_dataset = _roots(roots, suite_datasets)
    changes = Overrides.parse(overrides, run_overrides, SUITE_FORBIDDEN)
    seed_list = [int(s) for s in seeds.split(",")] if seeds else None
    notes: list[str] = []
    runs = expand(data, app.registry, where, store, datasets=per_dataset, seeds=seed_list,
                  only_datasets=datasets.split(",") if datasets else None,
                  fetch_hint=fetch_command(suite, datasets, overrides, run_overrides), overrides=changes, notes=notes,
                  report_to=parse_report_to(report_to) if report_to is not None else None)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    name = runs[0].suite
    jobs = jobs if jobs is not None else suite_jobs(data.get("suite", {}), where)
    data_ids = planned_data_fingerprints(((run.config, run.label) for run in runs), app.registry)
    states = [run.state(data) for run, data in zip(runs, data_ids)]
    counts = {status: sum(state.status == status for state in states) for status in (DONE, CHANGED, DAMAGED)}
    extra = "".join(f", {counts[s]} {s}" for s in (CHANGED, DAMAGED) if counts[s])
    description = data.get("suite", {}).get("description")
    click.echo(f"suite {name}: {len(runs)} runs ({counts[DONE]} already finished{extra}) -> {store / name}", err=True)
    if description:
        click.echo(f"  {description}", err=True)
    if dry_run:
        from ..budget import plan

        for line in check_datasets(runs, app.registry):
            click.echo(line, err=True)
        budgets = plan(runs, app.registry)
        for run, state in zip(runs, states):
            detail = f"  ({state.describe()})" if state.status in (CHANGED, DAMAGED) else ""
            click.echo(f"{state.status}  {run.label}  {run.folder}  {budgets[run.label]}{detail}")
        return
    from ..results.leaderboard import (  # pandas: after --dry-run
        aggregate,
        load_records,
        render_text,
        write_leaderboards,
    )

    policy = Policy(rerun_changed=rerun_changed, restart_damaged=restart_damaged)
    changed = [(run, state) for run, state in zip(runs, states) if state.status == CHANGED]
    if changed and not rerun_changed:  # refused before anything trains
        run, state = changed[0]
        more = f" ({len(changed) - 1} more runs changed: --dry-run lists them)" if len(changed) > 1 else ""
        raise refuse(run.label, state, run.folder, more)
    if executor == "ray":
        outcomes = execute_ray(runs, address=ray_address, policy=policy)
        for outcome in outcomes:
            click.echo(outcome_line(outcome), err=True)
    else:  # one line per run as it ends, with or without progress bars
        def say(outcome) -> None:
            click.echo(outcome_line(outcome), err=True)

        if jobs > 1:
            outcomes = execute_parallel(runs, jobs, progress=not no_progress, policy=policy, on_outcome=say)
        else:
            outcomes = execute_local(runs, app.registry, progress=not no_progress, policy=policy, on_outcome=say)
    leaderboard_failed = False
    if (store / name).is_dir():  # not when nothing could be written (a read-only store)
        try:
            records = load_records(store / name)
            table = aggregate(records)
            written = (write_leaderboards(table, leaderboard_dir or store / name / "leaderboard",
                                          records.attrs["failed"], records) if not table.empty else [])
        except (OSError, ItrBenchError) as exc:  # the runs' records are safe; say why the leaderboard is not
            leaderboard_failed = True
            cause = describe_os_error(exc) if isinstance(exc, OSError) else str(exc)
            click.echo(f"leaderboard not written: {cause}", err=True)
        else:
            if written:
                click.echo(render_text(table))
                click.echo(f"leaderboard: {', '.join(str(p) for p in written)}", err=True)
    for outcome in outcomes:
        if outcome.status == "busy":
            click.echo(f"busy: {outcome.run.label}: {outcome.reason}", err=True)
    failed = [o for o in outcomes if o.status == "failed"]
    for outcome in failed:
        click.echo(f"failed: {outcome.run.label}: {outcome.reason}", err=True)
        if app.debug and outcome.trace:
            click.echo(outcome.trace.rstrip(), err=True)
    if failed or leaderboard_failed:
        bugs = sum(o.kind == "bug" for o in failed)
        if failed:
            click.echo(f"{len(failed)} of {len(runs)} runs failed"
                       + (f" ({bugs} by a bug in code, not in the input)" if bugs else "")
                       + "; the others are recorded; rerun the suite to retry the failed ones", err=True)
        click.get_current_context().exit(2)


def fetch_command(suite: str, datasets: str | None, overrides: tuple[str, ...], run_overrides: tuple[str, ...]) -> str:
    """The ``itr-bench fetch-weights`` line that plans the same runs (overrides can change the weights)."""
    import shlex

    return shlex.join(["itr-bench", "fetch-weights", suite, *(["--datasets", datasets] if datasets else []),
                       *(part for text in overrides for part in ("--set", text)),
                       *(part for text in run_overrides for part in ("--set-run", text))])


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
