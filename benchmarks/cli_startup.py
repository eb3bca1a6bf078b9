"""How fast does the command line start? ``itr-bench --help``, ``plugins`` and ``list`` against ``import torch``.

Each command runs in a fresh interpreter (``python -m itr_bench.cli ...``, what the console
script runs), as does ``python -c 'import torch'``; the runs are interleaved so that a busy
machine slows all of them alike, and the median of the repeats is compared. The target: each
command takes at most a third of the time of importing torch (they need neither torch nor the
components' modules). Exits 1 when a command is over the target.

    python benchmarks/cli_startup.py --repeats 7
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

#: label -> command line (after the interpreter).
COMMANDS: dict[str, list[str]] = {
    "itr-bench --help": ["-m", "itr_bench.cli", "--help"],
    "itr-bench plugins": ["-m", "itr_bench.cli", "plugins"],
    "itr-bench list": ["-m", "itr_bench.cli", "list"],
}
BASELINE = ("import torch", ["-c", "import torch"])
#: The most a command may take, as a share of the baseline.
TARGET = 1 / 3


def wall_seconds(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(repeats: int) -> dict[str, float]:
    """Median wall seconds per label, the runs of all labels interleaved (after one warm-up each)."""
    runs = {label: args for label, args in [*COMMANDS.items(), BASELINE]}
    for args in runs.values():  # warm the file cache and the bytecode caches
        wall_seconds(args)
    times: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(repeats):
        for label, args in runs.items():
            times[label].append(wall_seconds(args))
    return {label: statistics.median(values) for label, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="Runs of each command (the median counts).")
    args = parser.parse_args()
    medians = measure(args.repeats)
    baseline = medians[BASELINE[0]]
    print(f"{BASELINE[0]:<20} {baseline:6.3f} s  (baseline, median of {args.repeats})")
    over = []
    for label in COMMANDS:
        ratio = medians[label] / baseline
        verdict = "ok" if ratio <= TARGET else f"OVER the target {TARGET:.2f}"
        print(f"{label:<20} {medians[label]:6.3f} s  ratio {ratio:.3f}  {verdict}")
        if ratio > TARGET:
            over.append(label)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
