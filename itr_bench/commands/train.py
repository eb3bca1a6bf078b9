"""``itr-bench train CONFIG``: train one run from a TOML file, resuming what is already there."""

from __future__ import annotations

from pathlib import Path

import click

from . import App


@click.command("train")
@click.argument("config_path", metavar="CONFIG", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Run folder (default: runs/<CONFIG name>). An unfinished run there is resumed.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@click.pass_obj
def command(app: App, config_path: Path, out_dir: Path | None, no_progress: bool) -> None:
    """Train the run described by CONFIG, select on val, evaluate test once, write record.json."""
    from ..config import check_components, load_run_config
    from ..engine.run import RECORD, train_run

    config = load_run_config(config_path)
    check_components(config, app.registry, str(config_path))
    out_dir = out_dir or Path("runs") / config_path.stem
    record = train_run(config, app.registry, out_dir, where=str(config_path), progress=not no_progress)
    click.echo(format_metrics("test", record["test"]))
    if record.get("untrained"):
        click.echo(format_metrics("untrained", record["untrained"]))
    click.echo(f"best val epoch {record['best_epoch']}; record: {out_dir / RECORD}")


def format_metrics(label: str, metrics: dict[str, float]) -> str:
    """One line: ``label: rsum 123.4 | i2t_r1 12.3 ...``."""
    ordered = ["rsum", *[k for k in metrics if k != "rsum"]]
    return f"{label}: " + " | ".join(f"{k} {metrics[k]:.2f}" for k in ordered if k in metrics)
