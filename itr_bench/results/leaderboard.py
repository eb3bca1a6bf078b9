"""Leaderboards: run records -> pandas -> one CSV, Markdown table and PNG chart per suite and dataset.

Each row is a run of the suite aggregated over its seeds: the mean of every metric, the
half-width of its 95% confidence interval (Student's t over seeds) and n. The untrained model's
test metrics (the chance level) sit beside every result. A run with seeds whose embeddings
collapsed (``degenerate`` in their records, see :mod:`itr_bench.metrics.collapse`) says how many, in the
``degenerate`` column and as a mark in the Markdown and the chart; records older than that flag
count as not flagged, and a suite none of whose records has it gets no column. Every run is also
compared with the suite's baseline run seed by seed (``itr_bench.results.stats``): the mean paired
difference in each metric declared ``paired`` (rSum and R@1 each way), its 95% t-interval, the
paired t-test's p-value raw and Holm-adjusted over the table's comparisons in that metric, and a
mark (better / worse / inconclusive; equivalent with an equivalence margin). Each row also shows
its training budget in optimizer steps and pairs (``itr_bench.budget``). Which metrics are columns, their order, the sort (the
first declared, best first), which way is better and the chart's range all come from the metric
declarations (:mod:`itr_bench.metrics.declarations`). Per-seed values go to a tidy ``<suite>__<dataset>__seeds.csv``. The files are only ever generated:
editing them by hand is pointless, the next generation overwrites them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..budget import leaderboard_columns
from ..errors import ItrBenchError
from ..metrics.declarations import DECLARED, MetricSet
from ..names import check_name
from ..store.atomic import remove_temporaries, write_bytes, write_text
from ..store.files import ensure_inside, read_json_file
from ..store.locking import LEADERBOARD_WAIT, FolderLock
from ..store.record import FAILED, RECORD, RunRecord, check_field, read_record, require, validation_only
from ..store.state import result_files
from .leaderboard_text import csv_safe, markdown_text
from .seed_configs import label_by_config
from .stats import (
    ALPHA,
    BASELINE,
    CORRECTION,
    EQUIVALENT,
    FEW_SEEDS,
    RELIABLE_N,
    correct,
    paired_difference,
    t_quantile,
)

__all__ = ["aggregate", "load_records", "seeds_table", "t_quantile", "write_leaderboards"]

KEYS = ("suite", "dataset", "run")
DESCRIPTIVE = ("protocol", "image_encoder", "text_encoder", "objective", "epochs", "steps", "pairs")
COST = ("train_pairs_per_second", "wall_seconds")
#: Per row: how many of its seeds' records say their val or test embeddings collapsed.
DEGENERATE = "degenerate"


def load_records(run_dir: Path | str, metrics: MetricSet = DECLARED, split_configs: bool = False) -> pd.DataFrame:
    """One row per finished run (``record.json``) under ``run_dir``; failed runs are counted apart;
    tuning trials (validation only, :func:`~itr_bench.store.record.validation_only`) are no rows.

    Nothing is miscounted silently: a damaged or incomplete record (no ``test``, ``run`` null, a
    string where a number belongs), two records for one (suite, dataset, run, seed) (a copied
    seed folder), or seeds of one run that do not report the same metrics, each stop the
    leaderboard with one line naming the file(s), rather than averaging over what is left. Seeds
    of one run trained under different configs stop it too, or with ``split_configs`` become one
    row per config (:mod:`itr_bench.results.seed_configs`).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ItrBenchError(f"{run_dir}: no such run folder")
    rows, seen, configs = [], {}, []
    for path in result_files(run_dir, RECORD):
        record = read_record(path)
        if validation_only(record):  # a tuning trial (itr_bench.tuning): it has no test metrics
            continue
        require(record, path, ("dataset", "run", "test"))
        row = record_row(record, path)
        configs.append(record.get("config"))
        key = (row["suite"], row["dataset"], row["run"], row["seed"])
        if key in seen:
            raise ItrBenchError(
                f"{seen[key].parent} and {path.parent}: both hold suite {key[0]!r}, dataset {key[1]!r}, run "
                f"{key[2]!r}, seed {key[3]}; keep one (a seed counted twice would shrink the interval)")
        seen[key] = path
        rows.append(row)
    label_by_config(rows, configs, split=split_configs)
    failed = [failure(read_json_file(p), p) for p in result_files(run_dir, FAILED)]
    frame = pd.DataFrame(rows)
    _check_same_metrics(frame, metrics)
    frame.attrs["failed"] = failed
    return frame


def record_row(record: RunRecord, path: Path) -> dict:
    """The leaderboard's row of one record read by :func:`~itr_bench.store.record.read_record`
    (every field it uses checked); problems name ``path`` and the key."""
    check_field(path, "seed", record.get("seed"))  # null is not a seed
    row = {key: record.get(key) for key in (*DESCRIPTIVE, "device", "git_commit")}
    row.update(leaderboard_columns(record))  # steps and pairs, also for records older than ``budget``
    row["record"] = str(path)
    config = record.get("config")  # the registered dataset, which a failed run's note names
    row["source_dataset"] = config.get("dataset") if isinstance(config, dict) else None
    row["suite"] = "-" if record.get("suite") is None else record["suite"]
    row.update({key: record[key] for key in ("dataset", "run", "seed")})
    # read_record checked both tables with the one checker (record_ranges: finite, within bounds)
    row.update({str(m): float(v) for m, v in record["test"].items()})
    untrained = record.get("untrained")
    if untrained is not None:
        row.update({f"untrained_{m}": float(v) for m, v in untrained.items()})
    row.update({key: record.get(key) for key in (*COST, "config_hash", "run_index", "baseline")})
    try:
        row["objective"] = _objective(record.get("objective") or [], record.get("features_view") or {})
    except (AttributeError, TypeError, ValueError):
        raise ItrBenchError(f"{path}: objective: expected a list of stage tables") from None
    row[DEGENERATE] = record.get(DEGENERATE)  # absent in records older than the flag: unknown, not flagged
    return row


def failure(data: dict, path: Path) -> dict:
    """A ``failed.json`` note, checked: ``run`` and ``reason`` are strings."""
    for key in ("run", "reason"):
        if not isinstance(data.get(key), str):
            raise ItrBenchError(f"{path}: {key}: expected a string, got {data.get(key)!r}")
    return data


def _check_same_metrics(frame: pd.DataFrame, declared: MetricSet) -> None:
    """Every seed of a (suite, dataset, run) reports the same metrics; else the means mix seed sets."""
    if frame.empty:
        return
    metrics = [c for c in frame.columns if c in declared or c.startswith("untrained_")]
    base = [c.removeprefix("untrained_") for c in metrics]
    metrics = [c for c, m in zip(metrics, base) if m not in declared or not declared[m].newer]  # NaN if mixed
    for _, group in frame.groupby(list(KEYS), sort=False):
        for metric in metrics:
            present = group[metric].notna()
            if present.any() and not present.all():
                lacking = group.loc[~present, "record"].iloc[0]
                having = group.loc[present, "record"].iloc[0]
                raise ItrBenchError(f"{lacking}: {metric.replace('untrained_', 'untrained.')}: missing, "
                                    f"while {having} of the same run has it; an incomplete record is never counted")


def _objective(stages: list[dict], features_view: dict[str, str] | None = None) -> str:
    """``instance(1)@features(ReLU + dropout 0.75) frozen:image.trunk 40ep -> ranking(2)@normalized+...``.

    Each loss is followed by the view it trained on (``@normalized``, ``@embedding``, or
    ``@features`` with what the encoders put there); records made before views were recorded
    show the loss alone. A stage whose negative half a sampler chose shows ``negatives:NAME``.
    """
    parts = []
    for stage in stages:
        views = stage.get("inputs") or {}
        losses = "+".join(f"{k}({v:g}){_view(views.get(k), features_view or {})}"
                          for k, v in stage.get("losses", {}).items())
        terms = stage.get("term_weights") or {}
        if terms:
            losses += "[" + ",".join(f"{k}x{v:g}" for k, v in terms.items()) + "]"
        frozen = [k for k, v in stage.get("lr_mult", {}).items() if v == 0]
        negatives = f" negatives:{stage['negatives']}" if stage.get("negatives") else ""
        parts.append(f"{losses}{' frozen:' + ','.join(frozen) if frozen else ''}{negatives} {stage.get('epochs')}ep")
    return " -> ".join(parts)


def _view(view: str | None, features_view: dict[str, str]) -> str:
    if view is None:
        return ""
    if view != "features" or not features_view:
        return f"@{view}"
    described = set(features_view.values())
    what = (next(iter(described)) if len(described) == 1
            else ", ".join(f"{side}: {text}" for side, text in sorted(features_view.items())))
    return f"@features({what})"


def aggregate(records: pd.DataFrame, declared: MetricSet = DECLARED, *, baseline: Sequence[str] = (),
              margins: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Mean, 95% CI half-width and n per (suite, dataset, run); best first by the first declared metric.

    ``baseline`` names runs to compare against: each table takes the first of them it has (else
    the records' choice, see :func:`choose_baseline`); ``margins`` (metric -> margin in its
    units) add equivalence tests.
    """
    if records.empty:
        return pd.DataFrame()
    metrics = [m for m in declared.names if m in records]
    chance = [f"untrained_{m}" for m in metrics if f"untrained_{m}" in records]
    rows = []
    for key, group in records.groupby(list(KEYS), sort=False):
        n = len(group)
        row = dict(zip(KEYS, key))
        row.update({col: group[col].iloc[0] for col in DESCRIPTIVE if col in group})
        row["n"] = n
        row["seeds"] = " ".join(str(s) for s in sorted(group["seed"]))
        row[DEGENERATE] = _count_degenerate(group)
        for metric in metrics:
            values = group[metric].astype(float)  # NaN in a seed: a newer metric its older seeds lack
            row[metric] = values.mean(skipna=False)
            row[f"{metric}_ci95"] = (t_quantile(n) * values.std(ddof=1, skipna=False) / math.sqrt(n) if n > 1
                                     else math.nan)
        for col in chance:
            row[col] = group[col].astype(float).mean(skipna=False)
        for col in COST:
            if col in group:
                row[col] = group[col].astype(float).mean()
        rows.append(row)
    table = pd.DataFrame(rows)
    table = table.merge(paired_against_baseline(records, declared, baseline=baseline, margins=margins),
                        on=list(KEYS), how="left")
    sort = declared.primary
    if sort.name in table:
        table = table.sort_values([*KEYS[:2], sort.name], ascending=[True, True, not sort.higher_is_better],
                                  kind="stable")
    if "paired_n" in table:
        table["paired_n"] = table["paired_n"].astype("Int64")
    paired = [c for c in ("baseline", "baseline_rule", "paired_n",
                          *[f"{m}{s}" for m in declared.paired for s in PAIRED_COLUMNS])
              if c in table]
    columns = [*KEYS, "n", "seeds", *[c for m in metrics for c in (m, f"{m}_ci95")], *paired, *chance,
               *[c for c in DESCRIPTIVE if c in table], *[c for c in COST if c in table], DEGENERATE]
    return table[columns].reset_index(drop=True)


def _count_degenerate(group: pd.DataFrame) -> float:
    """Seeds flagged degenerate; NaN when no record of the group has the flag (older records)."""
    flags = group[DEGENERATE] if DEGENERATE in group else pd.Series(dtype=object)
    known = flags.dropna()
    return float(sum(bool(f) for f in known)) if len(known) else math.nan


def _run_label(row: pd.Series) -> str:
    """The run's name, marked when some of its seeds collapsed."""
    flagged = row.get(DEGENERATE, math.nan)
    if isinstance(flagged, float) and not math.isnan(flagged) and flagged > 0:
        return f"{row['run']} (degenerate: {flagged:.0f} of {row['n']} seeds)"
    return str(row["run"])


def choose_baseline(records: pd.DataFrame, named: Sequence[str] = ()) -> tuple[str, str]:
    """The baseline run of one (suite, dataset) and the rule that chose it.

    ``named`` (``itr-bench leaderboard --baseline``, the committed shoot-outs' ``ranking``): the
    first of these runs that has records here. ``suite``: the run the records name (``suite.baseline``, or the suite's first run, stored in
    every record since runs carry it). ``first run``: the lowest ``run_index`` present, when the
    named run has no records here. ``first by name``: records made before runs stored their
    place in the suite, which therefore cannot say which run came first.
    """
    runs = set(records["run"])
    present = [name for name in named if name in runs]
    if present:
        return present[0], "named"
    stored = [b for b in records.get("baseline", pd.Series(dtype=object)).dropna() if b in runs]
    if stored:
        return pd.Series(stored).mode().iloc[0], "suite"
    indexed = records.dropna(subset=["run_index"]) if "run_index" in records else records.iloc[0:0]
    if not indexed.empty:
        return str(indexed.sort_values("run_index", kind="stable")["run"].iloc[0]), "first run"
    return sorted(runs)[0], "first by name"


#: Per paired metric: the mean difference, its interval, raw and Holm-adjusted p, the mark.
PAIRED_COLUMNS = ("_diff", "_diff_low", "_diff_high", "_p", "_p_holm", "_margin", "_p_equivalence_holm",
                  "_vs_baseline")


def _check_named(records: pd.DataFrame, named: Sequence[str]) -> None:
    """A baseline named on the command line that no table has is a typo: one line, with a suggestion."""
    from ..errors import did_you_mean

    runs = sorted(set(records["run"]))
    for name in named:
        if name not in runs:
            raise ItrBenchError(f"--baseline {name}: no leaderboard has a run of that name: {did_you_mean(name, runs)}")


def paired_against_baseline(records: pd.DataFrame, declared: MetricSet = DECLARED, *, baseline: Sequence[str] = (),
                            margins: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Per run: the baseline, and for each metric declared ``paired`` the mean paired difference from it
    (``<metric>_diff``), its 95% t-interval (``_diff_low``, ``_diff_high``), the paired t-test's p
    (``_p``) and its Holm adjustment over the table's comparisons in that metric (``_p_holm``), with a
    margin the adjusted TOST p (``_margin``, ``_p_equivalence_holm``), and a mark (``<metric>_vs_baseline``:
    better / worse / inconclusive / equivalent / untested; ``baseline`` on its row)."""
    _check_named(records, baseline)
    rows = []
    for (suite, dataset), group in records.groupby(list(KEYS[:2]), sort=False):
        chosen, rule = choose_baseline(group, baseline)
        reference = group[group["run"] == chosen].set_index("seed")
        table = {run: {"suite": suite, "dataset": dataset, "run": run, "baseline": chosen, "baseline_rule": rule}
                 for run in group["run"].unique()}
        for metric in (m for m in declared.paired if m in group):
            margin = (margins or {}).get(metric)
            higher = declared[metric].higher_is_better
            raw = {run: paired_difference(runs.set_index("seed")[metric].dropna().to_dict(),
                                          reference[metric].dropna().to_dict(), higher_is_better=higher, margin=margin)
                   for run, runs in group.groupby("run", sort=False) if run != chosen}
            for (run, before), after in zip(raw.items(), correct(list(raw.values()), higher)):
                table[run].update({"paired_n": after.n, f"{metric}_diff": after.mean, f"{metric}_diff_low": after.low,
                                   f"{metric}_diff_high": after.high, f"{metric}_p": before.p,
                                   f"{metric}_p_holm": after.p, f"{metric}_vs_baseline": after.mark})
                if margin is not None:
                    table[run].update({f"{metric}_margin": margin, f"{metric}_p_equivalence_holm": after.p_equivalence})
            table[chosen][f"{metric}_vs_baseline"] = BASELINE
        rows += table.values()
    return pd.DataFrame(rows)


def seeds_table(records: pd.DataFrame, suite: str, dataset: str, runs: Iterable[str],
                declared: MetricSet = DECLARED) -> pd.DataFrame:
    """Tidy per-seed results of one leaderboard: one row per run x seed x metric, with the config
    hash and commit, in the leaderboard's run order (for a user's own statistics in pandas)."""
    part = records[(records["suite"] == suite) & (records["dataset"] == dataset)]
    order = {run: i for i, run in enumerate(runs)}
    part = part.assign(_order=part["run"].map(order)).sort_values(["_order", "seed"], kind="stable")
    metrics = [m for m in declared.names if m in part and part[m].notna().any()]
    ids = [c for c in ("suite", "dataset", "run", "seed", "config_hash", "git_commit") if c in part]
    tidy = part[ids + metrics].melt(id_vars=ids, value_vars=metrics, var_name="metric", value_name="value")
    tidy["_metric"] = tidy["metric"].map({m: i for i, m in enumerate(metrics)})
    tidy = tidy.assign(_order=tidy["run"].map(order)).sort_values(["_order", "seed", "_metric"], kind="stable")
    return tidy.dropna(subset=["value"])[["suite", "dataset", "run", "seed", "metric", "value",
                                          *[c for c in ("config_hash", "git_commit") if c in tidy]]]


def failures_of(failed: Iterable[dict], suite: str, dataset: str, records: pd.DataFrame | None) -> list[dict]:
    """The failed-run notes that belong to the leaderboard of ``suite`` on ``dataset``.

    A note names the run's suite and its registered dataset (older notes only the run label,
    ``<dataset>/<run>/seed-<n>``); a leaderboard is labelled with the dataset's own name, which
    may differ (``captions`` named ``my-photos``), so the registered names its records came
    from count too.
    """
    sources = {dataset}
    if records is not None and "source_dataset" in records:
        mine = records[(records["suite"] == suite) & (records["dataset"] == dataset)]
        sources |= set(mine["source_dataset"].dropna())
    return [f for f in failed
            if f.get("suite", suite) == suite
            and (f.get("dataset") or f.get("run", "").split("/", 1)[0]) in sources]


def write_leaderboards(table: pd.DataFrame, out_dir: Path | str, failed: Iterable[dict] = (),
                       records: pd.DataFrame | None = None, declared: MetricSet = DECLARED) -> list[Path]:
    """Write ``<suite>__<dataset>.{csv,md,png}`` for each suite and dataset, and with ``records``
    the per-seed ``<suite>__<dataset>__seeds.csv``; returns the paths."""
    out_dir = Path(out_dir)
    for suite, dataset in table.groupby(["suite", "dataset"], sort=True).groups:  # before anything is made
        if suite != "-":
            check_name(suite, "leaderboard", "suite")
        check_name(dataset, "leaderboard", "dataset")
    with FolderLock(out_dir, wait=LEADERBOARD_WAIT):  # parallel suite workers finish at once: one writer at a time
        remove_temporaries(out_dir)  # of a writer killed mid-write
        return _write_leaderboards(table, out_dir, failed, records, declared)


def _write_leaderboards(table: pd.DataFrame, out_dir: Path, failed: Iterable[dict],
                        records: pd.DataFrame | None, declared: MetricSet) -> list[Path]:
    written = []
    for (suite, dataset), part in table.groupby(["suite", "dataset"], sort=True):
        if suite != "-":
            check_name(suite, "leaderboard", "suite")
        check_name(dataset, "leaderboard", "dataset")
        stem = ensure_inside(out_dir, out_dir / f"{suite}__{dataset}")
        part = part.dropna(axis=1, how="all")
        write_text(stem.with_suffix(".csv"), csv_safe(part).to_csv(index=False, float_format="%.4f"))
        write_text(stem.with_suffix(".md"), markdown(part, f"{suite} on {dataset}",
                                                     failures_of(failed, suite, dataset, records), declared))
        write_bytes(stem.with_suffix(".png"), chart(part, f"{suite} on {dataset}", declared=declared))
        written += [stem.with_suffix(s) for s in (".csv", ".md", ".png")]
        if records is not None and not records.empty:
            seeds = stem.with_name(f"{stem.name}__seeds.csv")
            write_text(seeds, csv_safe(seeds_table(records, suite, dataset, part["run"], declared)).to_csv(
                index=False, float_format="%.4f"))
            written.append(seeds)
    return written


def markdown(part: pd.DataFrame, title: str, failed: Iterable[dict] = (), declared: MetricSet = DECLARED) -> str:
    """A Markdown table: run, n, then ``mean ± ci`` per metric, the paired difference from the
    baseline with its mark, then the chance level (of the first declared metric), the steps and the objective."""
    metrics = [m for m in declared.names if m in part]
    paired = [m for m in declared.paired if f"{m}_vs_baseline" in part]
    chance = declared.primary
    header = ["run", "n", *metrics, *[f"Δ {m} vs baseline" for m in paired], f"untrained {chance.name}",
              *(["steps"] if "steps" in part else []), "objective"]
    lines = [f"### {title}", ""]
    if unreliable(part):
        lines += ["**n < 3: intervals unreliable.**", ""]
    elif few_seeds(part):
        lines += [(f"**n < {FEW_SEEDS} seeds: the intervals and tests rest on few seeds, too few for a t-interval "
                   "to check its own assumption (roughly normal per-seed differences).**"), ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in part.iterrows():
        cells = [markdown_text(_run_label(row)), str(row["n"])]
        for metric in metrics:
            ci, spec = row.get(f"{metric}_ci95", math.nan), declared[metric].format
            cells.append("-" if math.isnan(row[metric]) else f"{row[metric]:{spec}}"
                         + (f" ± {ci:{spec}}" if isinstance(ci, float) and not math.isnan(ci) else ""))
        cells += [_paired_cell(row, metric, declared[metric].format) for metric in paired]
        untrained = f"untrained_{chance.name}"
        cells.append(f"{row[untrained]:{chance.format}}" if untrained in row else "-")
        if "steps" in part:
            cells.append("-" if pd.isna(row["steps"]) else f"{row['steps']:.0f}")
        cells.append(markdown_text(row.get("objective", "")))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Mean over seeds ± half-width of the 95% t-interval; n = seeds. Untrained = the same model "
              "before training, scored on the same test split (the chance level)."]
    if DEGENERATE in part and (part[DEGENERATE].fillna(0) > 0).any():
        lines.append("Degenerate: seeds whose validation or test embeddings collapsed (nearly all rows the same "
                     "point, or variation along one direction; itr_bench/collapse.py); their scores mean nothing.")
    if "steps" in part:
        lines.append("Steps = optimizer steps of training (every layout: N/B steps of B pairs an epoch; "
                     "itr_bench/budget.py).")
    if paired:
        lines += ["", f"Δ = mean paired difference from the baseline run over the seeds both have (run − "
                  f"{_baseline_phrase(part)}), [95% t-interval, unadjusted]; p = paired t-test, "
                  f"{CORRECTION}-adjusted over the family of this table's {_family_size(part)} comparisons with "
                  f"the baseline in that metric: better / worse when the adjusted p < {ALPHA:g}, inconclusive "
                  "otherwise (an interval that contains 0 does not show the runs alike), untested with one "
                  "shared seed."]
        lines += _equivalence_note(part, paired)
    for failure in failed:
        lines.append(f"- failed: {markdown_text(failure.get('run'))}: {markdown_text(failure.get('reason'))}")
    return "\n".join(lines) + "\n"


def few_seeds(part: pd.DataFrame) -> bool:
    """True when some row or paired comparison rests on fewer than :data:`FEW_SEEDS` seeds."""
    counts = [part["n"]] + ([part["paired_n"].dropna()] if "paired_n" in part else [])
    return any((c < FEW_SEEDS).any() for c in counts)


def _family_size(part: pd.DataFrame) -> int:
    return int((part["baseline"] != part["run"]).sum()) if "baseline" in part else 0


def _equivalence_note(part: pd.DataFrame, paired: list[str]) -> list[str]:
    margins = [f"{m} ±{part[f'{m}_margin'].dropna().iloc[0]:g}" for m in paired
               if f"{m}_margin" in part and part[f"{m}_margin"].notna().any()]
    if not margins:
        return []
    return [(f"Equivalent: the {CORRECTION}-adjusted TOST p (two one-sided paired t-tests) < {ALPHA:g} for a "
             f"difference within the stated margin ({', '.join(margins)}), with no better / worse.")]


def unreliable(part: pd.DataFrame) -> bool:
    """True when some row or paired comparison rests on fewer than :data:`RELIABLE_N` seeds."""
    counts = [part["n"]] + ([part["paired_n"].dropna()] if "paired_n" in part else [])
    return any((c < RELIABLE_N).any() for c in counts)


def _baseline_phrase(part: pd.DataFrame) -> str:
    baseline = part["baseline"].iloc[0] if "baseline" in part else "?"
    rule = part["baseline_rule"].iloc[0] if "baseline_rule" in part else ""
    why = {"named": "named by --baseline", "suite": "the suite's baseline",
           "first run": "the suite's first run with results",
           "first by name": "first by name: these records predate the suite order"}.get(rule, rule)
    return markdown_text(f"{baseline}, {why}")


def _paired_cell(row: pd.Series, metric: str, spec: str) -> str:
    mark = row.get(f"{metric}_vs_baseline")
    if not isinstance(mark, str):
        return "-"
    if mark == BASELINE:
        return "baseline"
    mean, low, high = (row.get(f"{metric}_diff{s}", math.nan) for s in ("", "_low", "_high"))
    if mean is None or math.isnan(mean):
        return mark
    interval = "" if low is None or math.isnan(low) else f" [{low:+{spec}}, {high:+{spec}}]"
    equivalent = mark == EQUIVALENT
    p = row.get(f"{metric}_p_equivalence_holm" if equivalent else f"{metric}_p_holm", math.nan)
    adjusted = "" if p is None or pd.isna(p) else f" ({'TOST ' if equivalent else ''}p {p:.3f})"
    return f"{mean:+{spec}}{interval} {mark}{adjusted}"


def chart(part: pd.DataFrame, title: str, metric: str | None = None, declared: MetricSet = DECLARED) -> bytes:
    """PNG bytes: ``metric`` (default: the first declared) per run with 95% CI bars (clipped to the
    metric's range), the untrained level as a dashed line, and each run's paired verdict against
    the baseline beside its bar."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = metric or declared.primary.name
    part = part.iloc[::-1]  # best at the top
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(part) + 1.6), dpi=110)
    errors = whiskers(part, metric, declared) if f"{metric}_ci95" in part else None
    flagged = part[DEGENERATE].fillna(0) > 0 if DEGENERATE in part else pd.Series(False, index=part.index)
    labels = [_run_label(row) for _, row in part.iterrows()]
    if f"{metric}_vs_baseline" in part:  # the verdict under each run's name
        labels = [f"{label}\n{_chart_mark(row, metric)}" for label, (_, row) in zip(labels, part.iterrows())]
    ax.barh(range(len(part)), part[metric], xerr=errors, capsize=3,
            color=["#BBBBBB" if f else "#4C72B0" for f in flagged])
    ax.set_yticks(range(len(part)), labels, fontsize=8)
    for patch, f in zip(ax.patches, flagged):
        patch.set_hatch("//" if f else None)
    if f"untrained_{metric}" in part:
        ax.axvline(part[f"untrained_{metric}"].mean(), color="#C44E52", linestyle="--", label="untrained (chance)")
        ax.legend(loc="lower right", fontsize=8)
    label = declared[metric].label if metric in declared else metric
    ax.set_xlabel(f"test {label}: mean over seeds, 95% CI; under each run: paired Δ {label} vs the baseline",
                  fontsize=8)
    ax.set_title(title + ("\nn < 3: intervals unreliable" if unreliable(part) else ""), fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def whiskers(part: pd.DataFrame, metric: str, declared: MetricSet = DECLARED) -> list[pd.Series]:
    """``[below, above]`` lengths of each row's 95% CI whisker, cut at the metric's declared range
    (rSum never below 0 or above 600), so a wide interval never draws the impossible."""
    low, high = declared[metric].bounds if metric in declared else (-math.inf, math.inf)
    ci = part[f"{metric}_ci95"].fillna(0).astype(float)
    mean = part[metric].astype(float)
    return [ci.clip(upper=mean - low).clip(lower=0), ci.clip(upper=high - mean).clip(lower=0)]


def _chart_mark(row: pd.Series, metric: str) -> str:
    mark = row.get(f"{metric}_vs_baseline")
    if mark == BASELINE or not isinstance(mark, str):
        return f"({mark})" if isinstance(mark, str) else ""
    mean = row.get(f"{metric}_diff", math.nan)
    return f"({mark})" if mean is None or math.isnan(mean) else f"({mean:+.1f}: {mark})"


def render_text(table: pd.DataFrame, declared: MetricSet = DECLARED) -> str:
    """The leaderboard for the terminal: one block per suite and dataset."""
    blocks = []
    for (suite, dataset), part in table.groupby(["suite", "dataset"], sort=True):
        part = part.dropna(axis=1, how="all")
        blocks.append(markdown(part, f"{suite} on {dataset}", declared=declared))
    return "\n".join(blocks)
