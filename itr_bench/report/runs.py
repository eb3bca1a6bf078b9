"""The runs a report lines up: found under the given folders, each with its per-query results.

Every problem is gathered before anything is written, one line per run or file: a run without
per-query results (scored before they were kept), a damaged file, runs of another dataset or
test split than the first run's. The caller prints the lines and stops (exit 2).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ItrBenchError
from ..store.per_query import QueryResults, read_query_results
from ..store.record import RECORD, RunRecord, read_record
from ..store.state import result_files


@dataclass(frozen=True)
class ReportRun:
    """One run (one seed) in the report."""

    record_path: Path
    record: RunRecord
    results: QueryResults

    @property
    def label(self) -> str:
        suite = self.record.get("suite")
        return f"{suite + '/' if suite else ''}{self.record['run']} seed {self.record['seed']}"

    @property
    def group(self) -> tuple[Any, ...]:
        """The run across its seeds."""
        return (self.record.get("suite"), self.record["dataset"], self.record["run"])


class ReportInputError(ItrBenchError):
    """Some runs cannot be reported: ``lines`` says why, one line per run or file."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__(f"{len(lines)} problem(s) with the runs to report; nothing written")


def record_paths(folders: Iterable[Path]) -> list[Path]:
    """Every ``record.json`` of the given run or suite folders, in order, each once."""
    found: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            raise ItrBenchError(f"{folder}: no such run or suite folder")
        paths = [folder / RECORD] if (folder / RECORD).is_file() else result_files(folder, RECORD)
        if not paths:
            raise ItrBenchError(f"{folder}: no finished runs (record.json) found")
        found += [p for p in paths if p not in found]
    return found


def collect_runs(folders: Iterable[Path], all_seeds: bool = False) -> list[ReportRun]:
    """The runs to report, checked: all there, all with per-query results of one test split.

    Without ``all_seeds`` each run of a suite shows its lowest seed only.
    """
    runs, problems = [], []
    for path in record_paths(folders):
        try:
            record = read_record(path, required=("dataset", "run", "test"))
            runs.append(ReportRun(path, record, read_query_results(path.parent)))
        except ItrBenchError as exc:
            problems.append(str(exc))
    if not problems and runs:
        problems = _mismatches(runs)
    if problems:
        raise ReportInputError(problems)
    if not all_seeds:
        lowest: dict[tuple[Any, ...], ReportRun] = {}
        for run in runs:
            if run.group not in lowest or run.record["seed"] < lowest[run.group].record["seed"]:
                lowest[run.group] = run
        runs = [run for run in runs if lowest[run.group] is run]
    return runs


def _mismatches(runs: list[ReportRun]) -> list[str]:
    """One line per run whose dataset or test split is not the first run's."""
    first = runs[0]
    lines = []
    for run in runs[1:]:
        if run.record["dataset"] != first.record["dataset"]:
            lines.append(f"{run.record_path}: dataset {run.record['dataset']!r} is not {first.record['dataset']!r} "
                         f"of {first.record_path}; report runs of one dataset")
        elif run.results.meta.get("split_digest") != first.results.meta.get("split_digest"):
            lines.append(f"{run.record_path.parent}: its test split ({run.results.meta.get('images')} images, "
                         f"{run.results.meta.get('captions')} captions) differs from that of {first.record_path.parent} "
                         f"({first.results.meta.get('images')}, {first.results.meta.get('captions')}); "
                         "report runs scored on one test split")
    return lines
