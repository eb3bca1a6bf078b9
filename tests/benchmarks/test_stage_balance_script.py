"""benchmarks/stage_balance.py reports every term's value and gradient norm at each stage's start."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "stage_balance.py"
SUITE = """
[suite]
name = "balance"
datasets = ["synthetic"]
[defaults]
image_encoder = "dualpath-image"
image_options = {{ backbone = "resnet18", width = 0.0625 }}
text_encoder = "dualpath-textcnn"
text_options = {{ width = 0.0625, blocks = [1, 1, 1, 1], word2vec = "none", word_dim = 16, max_words = 16 }}
dataset_options = {{ train = 48, val = 16, test = 16, image_size = 16 }}
image_size = 16
batch_size = 16
cache_dir = "{cache}"
loss_options = {{ ranking = {{ form = "vsepp-sum", margin = 0.2, reduction = "mean" }} }}
[[runs]]
name = "two-stage"
stages = [{{ epochs = 1, losses = {{ instance = 1.0 }} }},
          {{ epochs = 1, losses = {{ ranking = 0.16, instance = 1.0 }}, term_weights = {{ instance_text = 0.1 }} }}]
"""


@pytest.mark.slow
def test_script_reports_values_and_gradient_norms_per_stage(tmp_path):
    suite = tmp_path / "balance.toml"
    suite.write_text(SUITE.format(cache=tmp_path / "cache"))
    proc = subprocess.run([sys.executable, str(SCRIPT), str(suite), "two-stage", "--batches", "2",
                           "--work", str(tmp_path / "work")], capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    first, second = report["stages"]
    assert set(first["terms"]) == {"instance_image", "instance_text", "instance (weighted sum)"}
    assert "ranking_over_instance" not in first
    assert {"ranking_i2t", "ranking_t2i", "ranking (weighted sum)", "paper-form ranking (weighted sum)"} <= set(
        second["terms"])
    for term in second["terms"].values():
        assert term["value"] > 0 and term["grad_norm"] > 0
    terms = second["terms"]
    # the text instance term weighs 0.1: its pull is a tenth of what the unweighted term's would be
    assert terms["instance_text"]["grad_norm"] < terms["instance_image"]["grad_norm"]
    ratio, match = second["ranking_over_instance"], second["ranking_weight_for_the_paper_ratio"]
    for measure in ("value", "grad_norm"):
        configured, paper = terms["ranking (weighted sum)"][measure], terms["paper-form ranking (weighted sum)"][measure]
        assert ratio[measure]["configured"] == pytest.approx(configured / terms["instance (weighted sum)"][measure])
        assert match[measure] == pytest.approx(0.16 * paper / configured)
