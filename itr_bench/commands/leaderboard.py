"""``itr-bench leaderboard [RUN_DIR] --out DIR``: regenerate leaderboards from run records."""

from __future__ import annotations

import math
from pathlib import Path

import click


@click.command("leaderboard", short_help="Aggregate run records into CSV, Markdown and PNG tables.")
@click.argument("run_dir", type=click.Path(path_type=Path), default=Path("runs"), required=False)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("leaderboards"), show_default=True)
@click.option("--baseline", "baselines", multiple=True, metavar="RUN",
              help="Compare every table with this run (repeatable: each table takes the first it has; "
                   "a table with none keeps its suite's baseline).")
@click.option("--equivalence-margin", "margins", multiple=True, metavar="METRIC=MARGIN",
              help="Test equivalence (TOST) within ±MARGIN, in the metric's units (repeatable), e.g. rsum=10.")
def command(run_dir: Path, out_dir: Path, baselines: tuple[str, ...], margins: tuple[str, ...]) -> None:
    """Aggregate every record.json under RUN_DIR (mean and 95% CI over seeds) into CSV, Markdown and PNG.

    Every run is compared with its table's baseline seed by seed; the marks are Holm-corrected
    over each table's comparisons in a metric (itr_bench/stats.py).

    Examples:

    \b
      itr-bench leaderboard runs/quickstart --out boards
      itr-bench leaderboard leaderboards/records --out leaderboards --baseline ranking
      itr-bench leaderboard runs/quickstart --out boards --equivalence-margin rsum=10
    """
    from ..errors import ItrBenchError
    from ..leaderboard import aggregate, load_records, render_text, write_leaderboards

    records = load_records(run_dir)
    table = aggregate(records, baseline=baselines, margins=parse_margins(margins))
    if table.empty:
        raise ItrBenchError(f"{run_dir}: no finished runs (record.json) found")
    written = write_leaderboards(table, out_dir, records.attrs["failed"], records)
    click.echo(render_text(table))
    click.echo(f"wrote {len(written)} files to {out_dir}", err=True)


def parse_margins(margins: tuple[str, ...]) -> dict[str, float]:
    """``("rsum=10",)`` -> ``{"rsum": 10.0}``; a malformed one is a usage error naming the flag."""
    from ..metric_declarations import DECLARED

    parsed = {}
    for text in margins:
        metric, _, value = text.partition("=")
        try:
            margin = float(value)
        except ValueError:
            margin = math.nan
        if metric not in DECLARED.paired or not margin > 0:
            raise click.BadParameter(f"{text!r}: expected METRIC=MARGIN with METRIC one of "
                                     f"{', '.join(DECLARED.paired)} and MARGIN > 0", param_hint="--equivalence-margin")
        parsed[metric] = margin
    return parsed
