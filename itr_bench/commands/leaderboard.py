"""``itr-bench leaderboard [RUN_DIR] --out DIR``: regenerate leaderboards from run records."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("leaderboard", short_help="Aggregate run records into CSV, Markdown and PNG tables.")
@click.argument("run_dir", type=click.Path(path_type=Path), default=Path("runs"), required=False)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("leaderboards"), show_default=True)
@click.option("--split-configs", is_flag=True,
              help="Seeds of one run trained under different configs become one row per config "
                   "(labelled with the config's digest) instead of an error.")
def command(run_dir: Path, out_dir: Path, split_configs: bool) -> None:
    """Aggregate every record.json under RUN_DIR (mean and 95% CI over seeds) into CSV, Markdown and PNG.

    Examples:

    \b
      itr-bench leaderboard runs/quickstart --out boards
      itr-bench leaderboard leaderboards/records --out leaderboards
    """
    from ..errors import ItrBenchError
    from ..leaderboard import aggregate, load_records, render_text, write_leaderboards

    records = load_records(run_dir, split_configs=split_configs)
    table = aggregate(records)
    if table.empty:
        raise ItrBenchError(f"{run_dir}: no finished runs (record.json) found")
    written = write_leaderboards(table, out_dir, records.attrs["failed"], records)
    click.echo(render_text(table))
    click.echo(f"wrote {len(written)} files to {out_dir}", err=True)
