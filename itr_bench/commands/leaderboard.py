"""``itr-bench leaderboard [RUN_DIR] --out DIR``: regenerate leaderboards from run records."""

from __future__ import annotations

import math
from pathlib import Path

import click


@click.command("leaderboard", short_help="Aggregate run records into CSV, Markdown and PNG tables.")
@click.argument("run_dir", type=click.Path(path_type=Path), default=Path("runs"), required=False)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("leaderboards"), show_default=True)
@click.option("--split-configs", is_flag=True,
              help="Seeds of one run trained under different configs become one row per config "
                   "(labelled with the config's digest) instead of an error.")
@click.option("--query-bootstrap", is_flag=True,
              help="Also a two-level paired bootstrap over seeds and test queries (per-query results; "
                   "10,000 resamples, fixed seed) into <suite>__<dataset>__query_bootstrap.csv.")
@click.option("--baseline", "baselines", multiple=True, metavar="RUN",
              help="Compare every table with this run (repeatable: each table takes the first it has; "
                   "a table with none keeps its suite's baseline).")
@click.option("--equivalence-margin", "margins", multiple=True, metavar="METRIC=MARGIN",
              help="Test equivalence (TOST) within ±MARGIN, in the metric's units (repeatable), e.g. rsum=10.")
def command(run_dir: Path, out_dir: Path, split_configs: bool, query_bootstrap: bool, baselines: tuple[str, ...],
            margins: tuple[str, ...]) -> None:
    """Aggregate every record.json under RUN_DIR (mean and 95% CI over seeds) into CSV, Markdown and PNG.

    Every run is compared with its table's baseline seed by seed; the marks are Holm-corrected
    over each table's comparisons in a metric (itr_bench/results/stats.py).

    Examples:

    \b
      itr-bench leaderboard runs/quickstart --out boards
      itr-bench leaderboard leaderboards/records --out leaderboards --baseline ranking
      itr-bench leaderboard runs/quickstart --out boards --equivalence-margin rsum=10
    """
    from ..errors import ItrBenchError
    from ..results.leaderboard import aggregate, load_records, render_text, write_leaderboards

    records = load_records(run_dir, split_configs=split_configs)
    table = aggregate(records, baseline=baselines, margins=parse_margins(margins))
    if table.empty:
        raise ItrBenchError(f"{run_dir}: no finished runs (record.json) found")
    written = write_leaderboards(table, out_dir, records.attrs["failed"], records)
    click.echo(render_text(table))
    if query_bootstrap:
        written += _query_bootstrap(records, out_dir)
    click.echo(f"wrote {len(written)} files to {out_dir}", err=True)


def _query_bootstrap(records, out_dir: Path) -> list[Path]:
    """The query-level intervals beside the seed-level ones (docs/report.md says what each answers)."""
    from ..metrics.declarations import DECLARED
    from ..results.query_bootstrap import leaderboard_intervals, write_intervals

    table = leaderboard_intervals(records, DECLARED.paired, warn=lambda line: click.echo(f"warning: {line}", err=True))
    if table.empty:
        click.echo("query bootstrap: no run shares a seed with per-query results with its baseline", err=True)
        return []
    click.echo(table[["suite", "dataset", "run", "metric", "seeds", "diff", "query_low", "query_high"]]
               .to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return write_intervals(table, out_dir)


def parse_margins(margins: tuple[str, ...]) -> dict[str, float]:
    """``("rsum=10",)`` -> ``{"rsum": 10.0}``; a malformed one is a usage error naming the flag."""
    from ..metrics.declarations import DECLARED

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
