"""The feed throughput script runs end to end at a tiny size and writes its JSON naming the machine."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "feed_throughput.py"


@pytest.mark.slow
def test_script_smoke_run(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--dataset", "synthetic", "--images", "8", "--image-size", "32",
         "--batch", "4", "--workers", "2", "--trials", "2", "--model-trials", "2", "--device", "cpu", "--cache-dir", str(tmp_path / "cache"),
         "--out", str(tmp_path / "perf")],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (result,) = (tmp_path / "perf").glob("feed_throughput__*__cpu.json")
    data = json.loads(result.read_text())
    assert data["machine"]["cores"] >= 1 and data["machine"]["cpu"] and data["machine"]["torch"]
    assert set(data["images_per_second"]) == {"decode", "stream_0_workers", "stream_2_workers",
                                              "ceiling_2_processes", "device"}
    for rate in data["images_per_second"].values():
        assert 0 < rate["min"] <= rate["median"] <= rate["max"]
    assert data["trials"] == 2 and data["workers_speedup"]["median"] > 0 and data["ceiling_speedup"]["median"] > 0
    for path in ("stream_2_workers", "device"):
        figures = data["epoch_vs_step"][path]
        assert figures["steps"] == 2 and 0 < figures["epoch_vs_step"]["min"] <= figures["epoch_vs_step"]["max"]


@pytest.mark.slow
def test_worker_transfer_script_smoke_run(tmp_path):
    script = SCRIPT.parent / "worker_transfer.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--dataset", "synthetic", "--images", "8", "--image-size", "32",
         "--batch", "4", "--batches", "3", "--cache-dir", str(tmp_path / "cache")],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "packed:" in proc.stdout and "per_image:" in proc.stdout and "x the batches/s" in proc.stdout
