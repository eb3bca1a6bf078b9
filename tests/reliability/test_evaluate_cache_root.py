"""``evaluate`` writes prepared data only under the configured cache root (issue 30, case 7)."""

from __future__ import annotations

import json

from .test_mixed_seeds import write_mini_suite


def test_a_run_folder_cannot_choose_where_evaluate_writes(cli, tmp_path, monkeypatch):
    suite = write_mini_suite(tmp_path / "mini.toml", tmp_path / "train-cache")
    assert cli("run", suite, "--store", tmp_path / "store", "--no-progress")[0] == 0
    state = tmp_path / "store" / "mini" / "synthetic" / "instance" / "seed-0" / "best" / "state.json"
    data = json.loads(state.read_text())
    data["state"]["config"]["cache_dir"] = str(tmp_path / "chosen-by-the-download")
    data["state"]["config"]["dataset_options"]["seed"] = 7  # new data: a cache must be built
    state.write_text(json.dumps(data))
    monkeypatch.setenv("ITR_BENCH_CACHE", str(tmp_path / "mine"))
    code, _, err = cli("evaluate", state.parent.parent, "--split", "test")
    assert code == 0, err
    assert not (tmp_path / "chosen-by-the-download").exists()
    assert any((tmp_path / "mine").iterdir())
