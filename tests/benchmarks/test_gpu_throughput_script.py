"""The GPU throughput script runs end to end (here on the CPU at a tiny size), so it works when a GPU is lent."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_throughput.py"


@pytest.mark.slow
def test_script_smoke_run_on_cpu(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--batch", "8", "--image-size", "32", "--steps", "1",
         "--warmup", "1", "--no-compile", "--dataset", "synthetic", "-o", "train=16", "-o", "val=4", "-o", "test=4",
         "-o", "image_size=32", "--image-encoder-width", "0.125", "--text-width", "0.125",
         "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "perf")],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (result,) = (tmp_path / "perf").glob("gpu_throughput__cpu*.json")
    data = json.loads(result.read_text())
    for key in ("bare_resnet50_img_per_s", "dualpath_pairs_per_s", "dualpath_vs_bare", "epoch_pairs_per_s", "epoch_vs_step",
                "feed_and_mining_pairs_per_s"):
        assert data[key] > 0, key
    # the paper's ranking form trains on paired batches: slot B/2+k holds the sampler's negative for anchor k
    assert data["negatives"] == "hardest" and data["feed"]["path"] == "device"
