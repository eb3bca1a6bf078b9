"""``itr-bench train CONFIG``: train one run from a TOML file, resuming what is already there."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import App, training_options

if TYPE_CHECKING:
    from ..metrics.declarations import MetricSet


@click.command("train", short_help="Train one run from a TOML config, resuming what is there.")
@click.argument("config_path", metavar="CONFIG", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Run folder (default: runs/<CONFIG name>). An unfinished run there under the same "
                   "config is resumed; a finished one is shown.")
@click.option("--seed", type=int, default=None, help="The run's seed instead of the config's.")
@training_options()
@click.pass_obj
def command(app: App, config_path: Path, out_dir: Path | None, seed: int | None, overrides: tuple[str, ...],
            report_to: str | None, rerun_changed: bool, restart_damaged: bool, no_progress: bool) -> None:
    """Train the run described by CONFIG, select on val, evaluate test once, write record.json.

    Examples:

    \b
      itr-bench train my-run.toml                      # into runs/my-run
      itr-bench train my-run.toml --out runs/try-2 --no-progress
      itr-bench train my-run.toml --out runs/short --set stages.0.epochs=2 --seed 1
      itr-bench train my-run.toml --report-to tensorboard,mlflow
    """
    import os

    from ..config import RunConfig, build, check_components, read_run_mapping
    from ..data.identity import planned_data_fingerprint
    from ..engine.run import train_run
    from ..metrics.declarations import DEFAULT_SELECT
    from ..overrides import TRAIN_FORBIDDEN, Override, Overrides, apply, blamed_on
    from ..store.locking import FolderLock
    from ..store.record import RECORD, read_record
    from ..store.state import DONE, Policy, settle, train_settled
    from ..trackers import check_trackers, parse_report_to

    changes = list(Overrides.parse(overrides, forbidden=TRAIN_FORBIDDEN).every)
    if seed is not None:
        changes.append(Override("--seed", str(seed), ("seed",), seed))
    data, notes = apply(read_run_mapping(config_path), changes, str(config_path))
    for note in notes:
        click.echo(f"note: {note}", err=True)
    with blamed_on(changes, str(config_path)):
        config = build(RunConfig, data, str(config_path))
        check_components(config, app.registry, str(config_path))
    trackers = check_trackers(parse_report_to(report_to), app.registry)  # a missing package: refused now
    out_dir = out_dir or Path("runs") / config_path.stem
    policy = Policy(rerun_changed=rerun_changed, restart_damaged=restart_damaged)
    say = lambda message: click.echo(message, err=True)  # noqa: E731

    def train() -> dict:
        return train_run(config, app.registry, out_dir, where=str(config_path), progress=not no_progress,
                         report_to=trackers)

    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 owns and settles the folder
        record = train()
    else:
        with FolderLock(out_dir):
            data = planned_data_fingerprint(config, app.registry, str(config_path))
            if settle(out_dir, config, str(out_dir), policy, say, data).status == DONE:
                click.echo(f"{out_dir}: already trained under this config; its record:", err=True)
                record = read_record(out_dir / RECORD)
            else:
                record = train_settled(out_dir, str(out_dir), policy, say, train)
    click.echo(format_metrics("test", record["test"]))
    if record.get("untrained"):
        click.echo(format_metrics("untrained", record["untrained"]))
    click.echo(f"best val epoch {record['best_epoch']} (by {record.get('select_metric', DEFAULT_SELECT)}); "
               f"record: {out_dir / RECORD}")


def format_metrics(label: str, metrics: dict[str, float], declared: MetricSet | None = None) -> str:
    """One line: ``label: rsum 123.4 | i2t_r1 12.3 ...``, in the declared metrics' order
    (:data:`~itr_bench.metrics.declarations.DECLARED` unless given), then any others."""
    from ..metrics.declarations import DECLARED

    return f"{label}: " + " | ".join(f"{k} {v:.2f}" for k, v in (declared or DECLARED).ordered(metrics))
