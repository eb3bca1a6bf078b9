"""Leaderboards: run records -> pandas -> one CSV, Markdown table and PNG chart per suite and dataset.

Each row is a run of the suite aggregated over its seeds: the mean of every metric, the
half-width of its 95% confidence interval (Student's t over seeds) and n. The untrained model's
test metrics (the chance level) sit beside every result. A run with seeds whose embeddings
collapsed (``degenerate`` in their records, see :mod:`itr_bench.collapse`) says how many, in the
``degenerate`` column and as a mark in the Markdown and the chart; records older than that flag
count as not flagged, and a suite none of whose records has it gets no column. The files are only ever generated:
editing them by hand is pointless, the next generation overwrites them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from .atomic import write_bytes, write_text
from .errors import ItrBenchError
from .files import ensure_inside, number_table, read_json_file
from .names import check_name

#: Metric columns, in the order they appear in every leaderboard (those a protocol lacks are left out).
METRICS = ("rsum", "i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "map", "minp",
           "i2t_medr", "t2i_medr", "i2t_meanr", "t2i_meanr")
#: Metrics where lower is better.
LOWER_IS_BETTER = {"i2t_medr", "t2i_medr", "i2t_meanr", "t2i_meanr"}
KEYS = ("suite", "dataset", "run")
DESCRIPTIVE = ("protocol", "image_encoder", "text_encoder", "objective", "epochs")
COST = ("train_pairs_per_second", "wall_seconds")
#: Per row: how many of its seeds' records say their val or test embeddings collapsed.
DEGENERATE = "degenerate"


def load_records(run_dir: Path | str) -> pd.DataFrame:
    """One row per finished run (``record.json``) under ``run_dir``; failed runs are counted apart.

    Nothing is miscounted silently: a damaged or incomplete record (no ``test``, ``run`` null, a
    string where a number belongs), two records for one (suite, dataset, run, seed) (a copied
    seed folder), or seeds of one run that do not report the same metrics, each stop the
    leaderboard with one line naming the file(s), rather than averaging over what is left.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ItrBenchError(f"{run_dir}: no such run folder")
    rows, seen = [], {}
    for path in sorted(run_dir.rglob("record.json")):
        row = record_row(read_json_file(path), path)
        key = (row["suite"], row["dataset"], row["run"], row["seed"])
        if key in seen:
            raise ItrBenchError(
                f"{seen[key].parent} and {path.parent}: both hold suite {key[0]!r}, dataset {key[1]!r}, run "
                f"{key[2]!r}, seed {key[3]}; keep one (a seed counted twice would shrink the interval)")
        seen[key] = path
        rows.append(row)
    failed = [failure(read_json_file(p), p) for p in sorted(run_dir.rglob("failed.json"))]
    frame = pd.DataFrame(rows)
    _check_same_metrics(frame)
    frame.attrs["failed"] = failed
    return frame


def record_row(record: dict, path: Path) -> dict:
    """The leaderboard's row of one record, every field checked; problems name ``path`` and the key."""
    row = {key: record.get(key) for key in (*DESCRIPTIVE, "device", "git_commit")}
    row["record"] = str(path)
    row["suite"] = "-" if record.get("suite") is None else check_name(record["suite"], str(path), "suite")
    for key in ("dataset", "run"):
        if record.get(key) is None:
            raise ItrBenchError(f"{path}: {key}: missing (an incomplete record is never counted)")
        row[key] = check_name(record[key], str(path), key)
    seed = record.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ItrBenchError(f"{path}: seed: expected an integer, got {seed!r}")
    row["seed"] = seed
    if record.get("test") is None:
        raise ItrBenchError(f"{path}: test: missing (an incomplete record is never counted)")
    test = number_table(record["test"], path, "test", finite=True)
    if not test:
        raise ItrBenchError(f"{path}: test: no metrics (an incomplete record is never counted)")
    row.update(test)
    untrained = record.get("untrained")
    if untrained is not None:
        row.update({f"untrained_{m}": v for m, v in number_table(untrained, path, "untrained", finite=True).items()})
    for key in COST:
        value = record.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ItrBenchError(f"{path}: {key}: expected a number, got {value!r}")
        row[key] = value
    try:
        row["objective"] = _objective(record.get("objective") or [], record.get("features_view") or {})
    except (AttributeError, TypeError, ValueError):
        raise ItrBenchError(f"{path}: objective: expected a list of stage tables") from None
    flag = record.get(DEGENERATE)  # absent in records older than the flag: unknown, not flagged
    if flag is not None and not isinstance(flag, bool):
        raise ItrBenchError(f"{path}: {DEGENERATE}: expected true or false, got {flag!r}")
    row[DEGENERATE] = flag
    return row


def failure(data: dict, path: Path) -> dict:
    """A ``failed.json`` note, checked: ``run`` and ``reason`` are strings."""
    for key in ("run", "reason"):
        if not isinstance(data.get(key), str):
            raise ItrBenchError(f"{path}: {key}: expected a string, got {data.get(key)!r}")
    return data


def _check_same_metrics(frame: pd.DataFrame) -> None:
    """Every seed of a (suite, dataset, run) reports the same metrics; else the means mix seed sets."""
    if frame.empty:
        return
    metrics = [c for c in frame.columns if c in METRICS or c.startswith("untrained_")]
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
    show the loss alone.
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
        parts.append(f"{losses}{' frozen:' + ','.join(frozen) if frozen else ''} {stage.get('epochs')}ep")
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


def t_quantile(n: int) -> float:
    """Two-sided 95% Student-t quantile for n samples (nan for fewer than 2)."""
    if n < 2:
        return math.nan
    from scipy.stats import t

    return float(t.ppf(0.975, n - 1))


def aggregate(records: pd.DataFrame) -> pd.DataFrame:
    """Mean, 95% CI half-width and n per (suite, dataset, run); best rSum first."""
    if records.empty:
        return pd.DataFrame()
    metrics = [m for m in METRICS if m in records]
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
            values = group[metric].astype(float)
            row[metric] = values.mean()
            row[f"{metric}_ci95"] = t_quantile(n) * values.std(ddof=1) / math.sqrt(n) if n > 1 else math.nan
        for col in chance:
            row[col] = group[col].astype(float).mean()
        for col in COST:
            if col in group:
                row[col] = group[col].astype(float).mean()
        rows.append(row)
    table = pd.DataFrame(rows)
    sort = "rsum" if "rsum" in table else None
    if sort:
        table = table.sort_values([*KEYS[:2], sort], ascending=[True, True, False], kind="stable")
    columns = [*KEYS, "n", "seeds", *[c for m in metrics for c in (m, f"{m}_ci95")], *chance,
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


def write_leaderboards(table: pd.DataFrame, out_dir: Path | str, failed: Iterable[dict] = ()) -> list[Path]:
    """Write ``<suite>__<dataset>.{csv,md,png}`` for each suite and dataset; returns the paths."""
    out_dir = Path(out_dir)
    written = []
    for (suite, dataset), part in table.groupby(["suite", "dataset"], sort=True):
        if suite != "-":
            check_name(suite, "leaderboard", "suite")
        check_name(dataset, "leaderboard", "dataset")
        stem = ensure_inside(out_dir, out_dir / f"{suite}__{dataset}")
        part = part.dropna(axis=1, how="all")
        write_text(stem.with_suffix(".csv"), part.to_csv(index=False, float_format="%.4f"))
        write_text(stem.with_suffix(".md"), markdown(part, f"{suite} on {dataset}",
                                                     [f for f in failed if f"{dataset}/" in f.get("run", "")]))
        write_bytes(stem.with_suffix(".png"), chart(part, f"{suite} on {dataset}"))
        written += [stem.with_suffix(s) for s in (".csv", ".md", ".png")]
    return written


def markdown(part: pd.DataFrame, title: str, failed: Iterable[dict] = ()) -> str:
    """A Markdown table: run, n, then ``mean ± ci`` per metric, then the chance level."""
    metrics = [m for m in METRICS if m in part]
    header = ["run", "n", *metrics, "untrained rsum", "objective"]
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in part.iterrows():
        cells = [_run_label(row), str(row["n"])]
        for metric in metrics:
            ci = row.get(f"{metric}_ci95", math.nan)
            cells.append(f"{row[metric]:.1f}" + (f" ± {ci:.1f}" if isinstance(ci, float) and not math.isnan(ci) else ""))
        cells.append(f"{row['untrained_rsum']:.1f}" if "untrained_rsum" in row else "-")
        cells.append(str(row.get("objective", "")))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Mean over seeds ± half-width of the 95% t-interval; n = seeds. Untrained = the same model "
              "before training, scored on the same test split (the chance level)."]
    if DEGENERATE in part and (part[DEGENERATE].fillna(0) > 0).any():
        lines.append("Degenerate: seeds whose validation or test embeddings collapsed (nearly all rows the same "
                     "point, or variation along one direction; itr_bench/collapse.py); their scores mean nothing.")
    for failure in failed:
        lines.append(f"- failed: {failure.get('run')}: {failure.get('reason')}")
    return "\n".join(lines) + "\n"


def chart(part: pd.DataFrame, title: str, metric: str = "rsum") -> bytes:
    """PNG bytes: ``metric`` per run with 95% CI bars and the untrained level as a dashed line."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    part = part.iloc[::-1]  # best at the top
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(part) + 1.4), dpi=110)
    errors = part[f"{metric}_ci95"].fillna(0) if f"{metric}_ci95" in part else None
    flagged = part[DEGENERATE].fillna(0) > 0 if DEGENERATE in part else pd.Series(False, index=part.index)
    ax.barh([_run_label(row) for _, row in part.iterrows()], part[metric], xerr=errors, capsize=3,
            color=["#BBBBBB" if f else "#4C72B0" for f in flagged])
    for patch, f in zip(ax.patches, flagged):
        patch.set_hatch("//" if f else None)
    if f"untrained_{metric}" in part:
        ax.axvline(part[f"untrained_{metric}"].mean(), color="#C44E52", linestyle="--", label="untrained (chance)")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel(f"test {metric} (mean over seeds, 95% CI)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def render_text(table: pd.DataFrame) -> str:
    """The leaderboard for the terminal: one block per suite and dataset."""
    blocks = []
    for (suite, dataset), part in table.groupby(["suite", "dataset"], sort=True):
        part = part.dropna(axis=1, how="all")
        blocks.append(markdown(part, f"{suite} on {dataset}"))
    return "\n".join(blocks)
