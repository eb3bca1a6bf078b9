"""``itr-bench report RUN_OR_SUITE_DIR... --out DIR``: what the runs retrieve, side by side, in one HTML page."""

from __future__ import annotations

from pathlib import Path

import click

from . import App


@click.command("report", short_help="One HTML page of what several runs retrieve for the same test queries.")
@click.argument("folders", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Folder for index.html, its thumbnails and charts.")
@click.option("--queries", default=24, show_default=True, type=click.IntRange(min=1),
              help="Queries sampled per direction (and the most disagreements shown).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the query sample.")
@click.option("--all-seeds", is_flag=True, help="Show every seed of a run (default: its lowest seed).")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@click.pass_obj
def command(app: App, folders: tuple[Path, ...], out_dir: Path, queries: int, seed: int, all_seeds: bool,
            no_progress: bool) -> None:
    """Line up the runs under FOLDERS (run folders, suites or a whole store) on the same test queries.

    For the same sampled queries the page shows each run's top-5 images for a caption and top-5
    captions for an image, the correct match marked; the queries one run ranks first and another
    misses; Recall@K curves and first-match rank histograms; each run's config and record. The
    runs must share one dataset and test split, and hold per-query results (runs scored before
    they were kept: 'itr-bench evaluate RUN' writes them). The page needs no network.

    Examples:

    \b
      itr-bench report runs/quickstart --out report
      itr-bench report runs/a/seed-0 runs/b/seed-0 --out report --queries 12 --seed 1
    """
    from ..report import ReportInputError, write_report

    def warn(line: str) -> None:
        click.echo(f"warning: {line}", err=True)

    try:
        page = write_report(list(folders), out_dir, app.registry, queries=queries, seed=seed, all_seeds=all_seeds,
                            progress=not no_progress, warn=warn)
    except ReportInputError as exc:
        for line in exc.lines:
            click.echo(f"itr-bench: error: {' '.join(line.split())}", err=True)
        raise
    click.echo(f"wrote {page}", err=True)
