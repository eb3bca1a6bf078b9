"""The validation scores of pilot runs: mean ± 95% t half-width over seeds, per run, never test.

A recipe is chosen on validation (docs/fair-benchmark.md): pilots are run with
``score_test = false``, so their records have no ``test`` key at all, and this table reads the
``val`` entry each record keeps (the selected epoch's validation metrics). It refuses a record
that was scored on test, so a table it prints cannot have looked at test.

    python benchmarks/validation_table.py leaderboards/pilots/quickstart/store \\
        --out leaderboards/pilots/quickstart/validation.md

Rows are (suite, dataset, run); a run's seeds are its ``seed-N`` records (tuning trials under
``tune/`` are the study's, not a pilot's, and are skipped).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from itr_bench.errors import ItrBenchError
from itr_bench.results.stats import t_half_width
from itr_bench.store.atomic import write_text
from itr_bench.store.record import RECORD, read_record, validation_only

METRICS = ("rsum", "i2t_r1", "t2i_r1")


def collect(root: Path) -> dict[tuple[str, str, str], list[dict]]:
    """Every pilot record under ``root``, grouped by (suite, dataset, run), sorted by seed."""
    rows: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for path in sorted(root.rglob(RECORD)):
        if "tune" in path.relative_to(root).parts:
            continue
        record = read_record(path)
        if not validation_only(record) or "test" in record:
            raise ItrBenchError(f"{path}: scored on test: a pilot is scored on validation only (score_test = false)")
        rows[(record["suite"], record["dataset"], record["run"])].append(record)
    return {key: sorted(records, key=lambda r: r["seed"]) for key, records in rows.items()}


def table(rows: dict[tuple[str, str, str], list[dict]]) -> str:
    lines = ["| suite | dataset | run | n | " + " | ".join(f"val {m}" for m in METRICS)
             + " | half-width / mean (val rsum) | val rsum per seed | steps |",
             "|---|---|---|---|" + "---|" * len(METRICS) + "---|---|---|"]
    for (suite, dataset, run), records in sorted(rows.items()):
        cells = []
        for metric in METRICS:
            values = [float(r["val"][metric]) for r in records]
            half = t_half_width(values)
            cells.append(f"{statistics.fmean(values):.1f}" + ("" if math.isnan(half) else f" ± {half:.1f}"))
        rsum = [float(r["val"]["rsum"]) for r in records]
        half = t_half_width(rsum)
        ratio = "" if math.isnan(half) else f"{100 * half / statistics.fmean(rsum):.0f}%"
        seeds = " / ".join(f"{r['seed']}: {float(r['val']['rsum']):.1f}" for r in records)
        steps = records[0].get("budget", {}).get("steps", "")
        lines.append(f"| {suite} | {dataset} | {run} | {len(records)} | " + " | ".join(cells)
                     + f" | {ratio} | {seeds} | {steps} |")
    lines.append("")
    lines.append("Validation only: every record has score_test = false and no test key. Mean ± half-width of "
                 "the 95% t-interval over seeds; the selected epoch's validation scores.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path, help="a run store (or a part of one) holding pilot records")
    parser.add_argument("--out", type=Path, help="write the Markdown table here (atomically) as well")
    args = parser.parse_args(argv)
    try:
        rows = collect(args.store)
        if not rows:
            raise ItrBenchError(f"{args.store}: no pilot record ({RECORD}) under it")
        text = table(rows)
    except ItrBenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(text, end="")
    if args.out:
        write_text(args.out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
