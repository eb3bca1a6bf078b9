"""The tuned leaderboard: the usual one for ``<suite>-tuned``, plus what the search found.

Beside the usual files (:func:`itr_bench.results.leaderboard.write_leaderboards`: rows, intervals, paired
differences), ``<suite>-tuned__<dataset>__tuning.{md,csv}`` add per run: the best values, the
trials it got, the best and median validation score over its completed trials and their gap
(the *sensitivity*: how much a run gains from tuning over a typical setting of its space), a
note for runs tuned on the shared settings only, and optionally the default-settings score of
the same run (``itr-bench run SUITE``'s records) beside the tuned one. With the study storage,
``<suite>-tuned__<dataset>__<run>__history.png`` and ``__importance.png`` are Optuna's plots.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..metrics.declarations import DECLARED
from ..results.leaderboard import aggregate, load_records, markdown, write_leaderboards
from ..store.atomic import write_bytes, write_text
from ..store.files import ensure_inside, read_json_file
from .final import tuned_suite

COLUMNS = ("dataset", "run", "metric", "trials", "complete", "pruned", "diverged", "best_trial", "best_value",
           "median_value", "sensitivity", "best_params", "default", "default_ci95", "note")


def tuning_table(records: pd.DataFrame, defaults: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (dataset, run) of the tuned records: the search's summary (``tuning`` field)."""
    rows = []
    for (dataset, run), group in records.groupby(["dataset", "run"], sort=False):
        tuning = read_json_file(Path(group["record"].iloc[0])).get("tuning") or {}
        best, median = tuning.get("best_value", math.nan), tuning.get("median_value", math.nan)
        sign = 1 if tuning.get("direction", "maximize") == "maximize" else -1
        row = {"dataset": dataset, "run": run, **{k: tuning.get(k) for k in COLUMNS[2:10]},
               "sensitivity": sign * (best - median),
               "best_params": "; ".join(f"{k}={_value(v)}" for k, v in (tuning.get("best_params") or {}).items()),
               "note": "shared settings only: its losses declare no search range" if tuning.get("shared_only") else ""}
        if defaults is not None and not defaults.empty:
            metric = DECLARED.primary.name
            match = defaults[(defaults["dataset"] == dataset) & (defaults["run"] == run)]
            if not match.empty:
                row["default"], row["default_ci95"] = match[metric].iloc[0], match.get(f"{metric}_ci95").iloc[0]
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def tuning_markdown(part: pd.DataFrame, tuning: pd.DataFrame, title: str) -> str:
    """The usual table, then the search's table for the same runs (in the leaderboard's order)."""
    primary = DECLARED.primary
    metric = tuning_metric(tuning)
    order = {run: i for i, run in enumerate(part["run"])}
    tuning = tuning.assign(_o=tuning["run"].map(order)).sort_values("_o", kind="stable")
    with_default = tuning["default"].notna().any()
    header = ["run", f"tuned test {primary.name}", *([f"default-settings test {primary.name}"] if with_default else []),
              "trials", f"best val {metric}", f"median val {metric}", "sensitivity", "best values"]
    lines = [markdown(part, title) + "\n" + f"### Tuning: {title}", "", "| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]
    rows = part.set_index("run")
    for _, row in tuning.iterrows():
        tuned = rows.loc[row["run"]]
        cells = [str(row["run"]) + (" (shared settings only)" if row["note"] else ""),
                 _mean_ci(tuned[primary.name], tuned.get(f"{primary.name}_ci95"), primary.format)]
        if with_default:
            cells.append(_mean_ci(row["default"], row["default_ci95"], primary.format))
        cells += [_trials(row), f"{row['best_value']:.2f}", f"{row['median_value']:.2f}",
                  f"{row['sensitivity']:+.2f}", str(row["best_params"])]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", (f"Trials: finished trials per run (all alike), trained on the trial seed and scored on validation "
                   f"only; best / median val: the best and the median validation {metric} over the run's completed "
                   "trials; sensitivity: best − median (how much the search gained over a typical setting of the "
                   "run's space). The tuned rows retrain each run's best values on the suite's seeds and score them "
                   "once on test.")]
    if tuning["note"].astype(bool).any():
        lines.append("Shared settings only: no loss of the run declares a search range, so only the suite's shared "
                     "keys were searched.")
    if with_default:
        lines.append("Default settings: the same run at the suite's own settings (`itr-bench run`), same seeds.")
    return "\n".join(lines) + "\n"


def tuning_metric(tuning: pd.DataFrame) -> str:
    """The validation metric the runs were selected by (the suite's ``select_metric``)."""
    metrics = tuning["metric"].dropna().unique()
    return str(metrics[0]) if len(metrics) == 1 else "score"


def write_tuned_leaderboard(store: Path, suite: str, out_dir: Path, *, with_defaults: bool = False,
                            studies: Mapping[tuple[str, str], tuple[str, str]] | None = None,
                            lock: Path | None = None, baseline: Sequence[str] = ()) -> tuple[pd.DataFrame, list[Path]]:
    """Write the tuned leaderboard of ``suite`` to ``out_dir``; ``studies`` maps (dataset, run) to
    (storage URL, study name) for the plots; ``baseline`` names the run to compare with (as
    ``itr-bench leaderboard --baseline``; empty: the records' own). Returns the usual table and the
    files written."""
    records = load_records(store / tuned_suite(suite))
    table = aggregate(records, baseline=baseline)
    if table.empty:
        return table, []
    written = write_leaderboards(table, out_dir, records.attrs["failed"], records)
    defaults = None
    if with_defaults and (store / suite).is_dir():
        defaults = aggregate(load_records(store / suite), baseline=baseline)
    tuning = tuning_table(records, defaults)
    for (name, dataset), part in table.groupby(["suite", "dataset"], sort=True):
        mine = tuning[tuning["dataset"] == dataset]
        stem = ensure_inside(out_dir, out_dir / f"{name}__{dataset}__tuning")
        write_text(stem.with_suffix(".md"), tuning_markdown(part.dropna(axis=1, how="all"), mine,
                                                            f"{name} on {dataset}"))
        write_text(stem.with_suffix(".csv"), mine.to_csv(index=False, float_format="%.4f"))
        written += [stem.with_suffix(".md"), stem.with_suffix(".csv")]
    for (dataset, run), (url, study) in (studies or {}).items():
        written += plot_study(url, study, out_dir / f"{tuned_suite(suite)}__{dataset}__{run}",
                              lock or store / suite / "tune")
    return table, written


def plot_study(url: str, name: str, stem: Path, lock: Path) -> list[Path]:
    """Optuna's optimisation history, and the parameter importances when there are at least two
    parameters and two completed trials (fANOVA needs both); returns the PNGs written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.exceptions import ExperimentalWarning
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as plots

    from .study import open_storage

    study = optuna.load_study(study_name=name, storage=open_storage(url, lock))
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return []
    written = []
    jobs = [("history", plots.plot_optimization_history)]
    if len(complete) >= 2 and len(complete[0].params) >= 2:
        jobs.append(("importance", plots.plot_param_importances))
    for suffix, plot in jobs:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                axes = plot(study)
        except (ValueError, RuntimeError, ZeroDivisionError):  # e.g. every trial scored alike: nothing to rank
            continue
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        figure.suptitle(name, fontsize=9)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        plt.close(figure)
        path = stem.with_name(f"{stem.name}__{suffix}.png")
        write_bytes(path, buffer.getvalue())
        written.append(path)
    return written


def _value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _trials(row: pd.Series) -> str:
    extra = [f"{int(row[k])} {k}" for k in ("pruned", "diverged") if row.get(k)]
    return f"{int(row['trials'])}" + (f" ({', '.join(extra)})" if extra else "")


def _mean_ci(mean: Any, ci: Any, spec: str) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    has_ci = isinstance(ci, float) and not math.isnan(ci)
    return f"{mean:{spec}}" + (f" ± {ci:{spec}}" if has_ci else "")

