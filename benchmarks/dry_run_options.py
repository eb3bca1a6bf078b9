"""How fast does ``itr-bench run SUITE --dry-run`` refuse a bad component option?

Three suites, each with one mistake: a misspelled loss option, a wrong-typed loss option and an
unknown text-encoder option. Each must exit 2 with one line naming the suite file, the run and
the key, in under 5 seconds (the target of issue #15), before any data is prepared or model
built. Each runs in a fresh interpreter (``python -m itr_bench.cli``, what the console script
runs), interleaved with ``python -c 'import torch'`` so a busy machine slows all alike; the
median of the repeats counts, and its ratio to importing torch is printed beside it. Exits 1
when a mistake is not caught or a median is over 5 s.

    python benchmarks/dry_run_options.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUITE = """
[suite]
name = "typo"
datasets = ["synthetic"]

[defaults]
image_encoder = "dualpath-image"
text_encoder = "dualpath-textcnn"
{mistake}

[[runs]]
name = "vse"
stages = [{{ epochs = 1, losses = {{ ranking = 1.0 }} }}]
"""

#: label -> (the suite's mistake, what the error line must contain)
MISTAKES = {
    "misspelled loss option": ('loss_options = { ranking = { margn = 0.2 } }',
                               "run 'vse': runs[0].loss_options.ranking.margn: loss 'ranking'"),
    "wrong-typed loss option": ('loss_options = { ranking = { margin = "big" } }',
                                "run 'vse': runs[0].loss_options.ranking.margin: loss 'ranking'"),
    "unknown encoder option": ('text_options = { word2vek = "train" }',
                               "run 'vse': runs[0].text_options.word2vek: text encoder 'dualpath-textcnn'"),
}
TARGET_SECONDS = 5.0


def timed(args: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False)
    return time.perf_counter() - start, proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="Runs of each case (the median counts).")
    args = parser.parse_args()
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        runs: dict[str, list[str]] = {}
        for label, (mistake, _) in MISTAKES.items():
            path = Path(tmp) / f"{label.replace(' ', '-')}.toml"
            path.write_text(SUITE.format(mistake=mistake))
            runs[label] = ["-m", "itr_bench.cli", "run", str(path), "--dry-run", "--store", str(Path(tmp) / "store")]
        runs["import torch"] = ["-c", "import torch"]
        for label, command in runs.items():  # warm-up, and the check that each mistake is caught
            _, proc = timed(command)
            if label in MISTAKES:
                expected = MISTAKES[label][1]
                lines = proc.stderr.strip().splitlines()
                if proc.returncode != 2 or len(lines) != 1 or expected not in lines[0]:
                    print(f"{label}: NOT caught as one line (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
                    failed.append(label)
        times: dict[str, list[float]] = {label: [] for label in runs}
        for _ in range(args.repeats):
            for label, command in runs.items():
                times[label].append(timed(command)[0])
    medians = {label: statistics.median(values) for label, values in times.items()}
    baseline = medians.pop("import torch")
    print(f"{'import torch':<26} {baseline:6.3f} s  (baseline, median of {args.repeats})")
    for label, seconds in medians.items():
        verdict = "ok" if seconds < TARGET_SECONDS else f"OVER the target {TARGET_SECONDS:.0f} s"
        print(f"{label:<26} {seconds:6.3f} s  ratio to import torch {seconds / baseline:.3f}  {verdict}")
        if seconds >= TARGET_SECONDS:
            failed.append(label)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
