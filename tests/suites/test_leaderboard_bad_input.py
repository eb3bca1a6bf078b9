"""The leaderboard never miscounts silently: a corpus of damaged, incomplete and duplicated records.

Each case damages one file of a good store and runs ``itr-bench leaderboard``: one line naming the
file (both folders for a duplicate) and the cause, exit 2, and nothing written anywhere.
"""

import json
import shutil

import pandas as pd
import pytest

from itr_bench.cli import main
from itr_bench.errors import ItrBenchError
from itr_bench.results.leaderboard import write_leaderboards
from itr_bench.store.record import RECORD

from .test_leaderboard import write_record

SEED0 = "s/synthetic/good/seed-0"
SEED1 = "s/synthetic/good/seed-1"


def edit(folder, change, name="record.json"):
    def apply(root):
        path = root / folder / name
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))
    return apply


def write(folder, content, name="record.json"):
    def apply(root):
        path = root / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return apply


def as_folder(root):
    (root / SEED0 / RECORD).unlink()
    (root / SEED0 / RECORD).mkdir()


CASES = {
    "copied seed folder": (lambda r: shutil.copytree(r / SEED0, r / "s/synthetic/good/seed-0 copy"),
                           f"{SEED0} and ", "seed-0 copy: both hold suite 's', dataset 'synthetic', run 'good', seed 0"),
    "same key in another folder": (edit(SEED1, lambda d: d.update(seed=0)), f"{SEED0} and ", f"{SEED1}: both hold"),
    "no test": (edit(SEED1, lambda d: d.pop("test")), f"{SEED1}/record.json: test: missing"),
    "test null": (edit(SEED1, lambda d: d.update(test=None)), f"{SEED1}/record.json: test: missing"),
    "test empty": (edit(SEED1, lambda d: d.update(test={})), f"{SEED1}/record.json: test: no metrics"),
    "run null": (edit(SEED1, lambda d: d.update(run=None)), f"{SEED1}/record.json: run: missing"),
    "no dataset": (edit(SEED1, lambda d: d.pop("dataset")), f"{SEED1}/record.json: dataset: missing"),
    "one seed lacks a metric": (edit(SEED1, lambda d: d["test"].pop("t2i_r1")),
                                f"{SEED1}/record.json: t2i_r1: missing, while ", f"{SEED0}/record.json of the same run"),
    "one seed lacks the untrained level": (edit(SEED1, lambda d: d.update(untrained=None)),
                                           f"{SEED1}/record.json: untrained.rsum: missing"),
    "string where a metric belongs": (edit(SEED1, lambda d: d["test"].update(rsum="12.0")),
                                      f"{SEED1}/record.json: test.rsum: expected a number, got '12.0'"),
    "nan metric": (write(SEED1, json.dumps({"suite": "s", "dataset": "synthetic", "run": "good", "seed": 1,
                                            "test": {"rsum": float("nan")}})),
                   f"{SEED1}/record.json: test.rsum: expected a finite number"),
    "string seed": (edit(SEED1, lambda d: d.update(seed="1")), f"{SEED1}/record.json: seed: expected an integer, got '1'"),
    "string cost": (edit(SEED1, lambda d: d.update(wall_seconds="5s")),
                    f"{SEED1}/record.json: wall_seconds: expected a number, got '5s'"),
    "damaged objective": (edit(SEED1, lambda d: d.update(objective="instance")),
                          f"{SEED1}/record.json: objective: expected a list of tables"),
    "not utf-8": (write(SEED1, b'{"run": "\xff\xfe"}'), f"{SEED1}/record.json: damaged: not UTF-8"),
    "a JSON list": (write(SEED1, "[1, 2, 3]"), f"{SEED1}/record.json: damaged: expected a JSON object, got a JSON list"),
    "truncated": (write(SEED1, '{"suite": "s", "test": {"rsu'), f"{SEED1}/record.json: damaged: not valid JSON"),
    "record.json is a folder": (as_folder, f"{SEED0}/record.json: is a folder"),
    "damaged failed.json": (write("s/synthetic/bad/seed-0", '{"run": "synth', "failed.json"),
                            "s/synthetic/bad/seed-0/failed.json: damaged: not valid JSON"),
    "failed.json a list": (write("s/synthetic/bad/seed-0", "[]", "failed.json"),
                           "failed.json: damaged: expected a JSON object"),
    "failed.json without reason": (write("s/synthetic/bad/seed-0", '{"run": "synthetic/bad/seed-0"}', "failed.json"),
                                   "failed.json: reason: expected a string, got None"),
    "suite escapes": (edit(SEED1, lambda d: d.update(suite="../../../x")),
                      f"{SEED1}/record.json: suite: '../../../x' is not a valid name"),
    "absolute run": (edit(SEED1, lambda d: d.update(run="/tmp/x")), f"{SEED1}/record.json: run: '/tmp/x' is not a valid name"),
    "dataset with a separator": (edit(SEED1, lambda d: d.update(dataset="a/../../b")),
                                 f"{SEED1}/record.json: dataset: 'a/../../b' is not a valid name"),
    "suite not a string": (edit(SEED1, lambda d: d.update(suite=["s"])), f"{SEED1}/record.json: suite: not a string"),
}


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "store" / "runs"
    for seed, value in enumerate([10.0, 14.0]):
        write_record(root, "s", "synthetic", "good", seed, value)
    write_record(root, "s", "synthetic", "weak", 0, 4.0)
    return root


def files_under(folder):
    return sorted(p for p in folder.rglob("*"))


@pytest.mark.parametrize("case", CASES)
def test_bad_record_is_one_line_and_writes_nothing(store, tmp_path, capsys, case):
    damage, *fragments = CASES[case]
    damage(store)
    before = files_under(tmp_path)
    code = main(["leaderboard", str(store), "--out", str(tmp_path / "store" / "out" / "boards")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("itr-bench: error: ") and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    assert files_under(tmp_path) == before


def test_good_store_still_counts_every_seed(store, tmp_path, capsys):
    assert main(["leaderboard", str(store), "--out", str(tmp_path / "boards")]) == 0
    csv = pd.read_csv(tmp_path / "boards" / "s__synthetic.csv")
    assert list(zip(csv.run, csv.n, csv.seeds)) == [("good", 2, "0 1"), ("weak", 1, "0")]


@pytest.mark.parametrize("suite, dataset", [("../../../x", "synthetic"), ("s", "/abs/x"), ("..", "x")])
def test_write_leaderboards_never_writes_outside_out(tmp_path, suite, dataset):
    table = pd.DataFrame([{"suite": suite, "dataset": dataset, "run": "r", "n": 1, "seeds": "0", "rsum": 1.0}])
    with pytest.raises(ItrBenchError, match="is not a valid name"):
        write_leaderboards(table, tmp_path / "a" / "b" / "out")
    assert files_under(tmp_path) == []
