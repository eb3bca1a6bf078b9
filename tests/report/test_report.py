"""``itr-bench report`` on tiny real runs: the page, its marks, and every kind of bad input."""

import json
import re

import numpy as np
from report_marks import assert_every_query_marked, page_marks
from tiny_toml import DUALPATH, stage, synthetic, write_run

from itr_bench.cli import main
from itr_bench.plugins import get_plugin_manager, load_registry
from itr_bench.report import write_report
from itr_bench.report.split import ScoredSplit
from itr_bench.store.per_query import PER_QUERY, read_query_results

from .conftest import train


def _report(runs, out, *extra):
    return main(["report", str(runs), "--out", str(out), "--queries", "6", "--no-progress", *extra])


def test_every_run_shows_the_same_queries_with_its_matches_marked(runs, tmp_path):
    out = tmp_path / "out"
    assert _report(runs, out) == 0
    html = (out / "index.html").read_text()
    marks = page_marks(html)
    assert_every_query_marked(marks)
    assert sum(q["direction"] == "t2i" for q in marks.queries) >= 6
    assert sum(q["direction"] == "i2t" for q in marks.queries) >= 6
    ranks = {name: read_query_results(runs / name) for name in ("infonce", "instance")}
    for query in marks.queries:
        assert [row["run"] for row in query["rows"]] == ["infonce seed 0", "instance seed 0"]
        for row, name in zip(query["rows"], ("infonce", "instance")):
            assert row["rank"] == ranks[name].directions[query["direction"]].rank[query["query"]]
    assert not re.search(r"https?://", html)
    for url in marks.urls:  # every thumbnail, chart and record link is there, relative
        assert (out / url).resolve().is_file(), url
    assert {"recall_t2i.png", "ranks_i2t.png"} <= {p.name for p in out.iterdir()}


def test_the_sample_follows_the_seed(runs, tmp_path):
    pages = {}
    for name, seed in (("a", "0"), ("b", "0"), ("c", "3")):
        assert _report(runs, tmp_path / name, "--seed", seed) == 0
        queries = page_marks((tmp_path / name / "index.html").read_text()).queries
        pages[name] = [(q["direction"], q["query"]) for q in queries]
    assert pages["a"] == pages["b"] != pages["c"]


def test_disagreements_are_queries_one_run_ranks_first_and_another_misses(runs, tmp_path):
    out = tmp_path / "out"
    assert _report(runs, out, "--queries", "2000") == 0  # every query sampled, every disagreement shown
    queries = page_marks((out / "index.html").read_text()).queries
    results = [read_query_results(runs / name) for name in ("infonce", "instance")]
    expected = sum(int(((np.minimum(*r) == 0) & (np.maximum(*r) >= 10)).sum())
                   for r in ([x.directions[d].rank for x in results] for d in ("t2i", "i2t")))
    sampled = 16 * 5 + 16  # captions + images of the test split, each once
    assert len(queries) == sampled + expected > sampled
    for query in queries[:expected]:  # the disagreements come first
        ranks = [row["rank"] for row in query["rows"]]
        assert min(ranks) == 0 and max(ranks) >= 10


def _lines(capsys):
    return [line for line in capsys.readouterr().err.splitlines() if line]


def test_a_run_without_per_query_results_is_named_and_the_previous_page_kept(runs, tmp_path, capsys):
    out = tmp_path / "out"
    assert _report(runs, out) == 0
    before = (out / "index.html").read_bytes()
    (runs / "instance" / PER_QUERY).unlink()
    capsys.readouterr()
    assert _report(runs, out) == 2
    lines = _lines(capsys)
    assert lines[0].startswith(f"itr-bench: error: {runs / 'instance' / PER_QUERY}: no per-query results")
    assert "itr-bench evaluate" in lines[0] and len(lines) == 2
    assert (out / "index.html").read_bytes() == before


def test_damaged_files_are_one_line_each(runs, tmp_path, capsys):
    (runs / "instance" / PER_QUERY).write_bytes(b"PK\x03\x04 not really")
    (runs / "infonce" / PER_QUERY).write_bytes((runs / "infonce" / PER_QUERY).read_bytes()[:300])
    assert _report(runs, tmp_path / "out") == 2
    lines = _lines(capsys)
    assert len(lines) == 3 and all("damaged per-query results" in line for line in lines[:2])
    assert str(runs / "infonce" / PER_QUERY) in lines[0] and str(runs / "instance" / PER_QUERY) in lines[1]
    assert not (tmp_path / "out").exists()


def test_runs_of_another_test_split_or_dataset_are_refused(runs, trained, tmp_path, capsys):
    smaller = train(tmp_path, "smaller", "infonce", test=8)
    renamed = runs / "renamed"
    renamed.mkdir()
    record = json.loads((runs / "instance" / "record.json").read_text())
    (renamed / "record.json").write_text(json.dumps({**record, "dataset": "other"}))
    (renamed / PER_QUERY).write_bytes((runs / "instance" / PER_QUERY).read_bytes())
    capsys.readouterr()
    assert main(["report", str(runs), str(smaller), "--out", str(tmp_path / "out")]) == 2
    lines = _lines(capsys)
    assert any(str(renamed) in line and "dataset 'other'" in line for line in lines)
    assert any(str(smaller) in line and "test split (8 images" in line for line in lines)
    assert not (tmp_path / "out").exists()


def test_text_from_data_is_escaped_and_unreadable_images_are_placeholders(runs, tmp_path, monkeypatch):
    hostile = "<script>alert(1)</script> & \"quoted\""

    def fake_split(run, registry, progress=True):
        results = run.results
        return ScoredSplit([hostile] * results.meta["captions"], ['"><img src=x>'] * results.meta["images"],
                         lambda index: b"" if index == 0 else _jpeg())

    monkeypatch.setattr("itr_bench.report.load_test_split", fake_split)
    warnings = []
    registry = load_registry(get_plugin_manager(load_entrypoints=False))
    page = write_report([runs], tmp_path / "out", registry, queries=16, warn=warnings.append)
    html = page.read_text()
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;" in html
    assert '"><img src=x>' not in html
    assert len(warnings) == 1 and warnings[0].startswith("image 0 ") and "placeholder" in warnings[0]
    assert "image 0<br>unavailable" in html and not (tmp_path / "out" / "thumbs" / "0.jpg").exists()


def _jpeg():
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()




def test_identity_runs_show_text_to_image_with_every_image_of_the_person_correct(tmp_path):
    write_run(tmp_path / "people.toml", tmp_path / "cache", name="people", dataset="synthetic-identity",
              dataset_options=synthetic(train=16, val=6, test=6), sampler="identity", samples_per_identity=4,
              encoders=DUALPATH, stages=[stage({"instance": 1.0}, lr=0.05)])
    assert main(["train", str(tmp_path / "people.toml"), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "out"), "--queries", "8"]) == 0
    marks = page_marks((tmp_path / "out" / "index.html").read_text())
    assert_every_query_marked(marks)
    assert {q["direction"] for q in marks.queries} == {"t2i"}
    results = read_query_results(tmp_path / "run")
    for query in marks.queries:  # the person's images, up to five, are the ones shown as correct
        person = results.image_label[results.caption_image[query["query"]]]
        assert query["truths"] == min(5, int((results.image_label == person).sum())) > 1


def test_a_test_split_that_no_longer_matches_the_per_query_results_is_refused(runs, tmp_path, capsys):
    for name in ("infonce", "instance"):  # the config now builds another test split than was scored
        path = runs / name / "record.json"
        record = json.loads(path.read_text())
        record["config"]["dataset_options"]["test"] = 8
        path.write_text(json.dumps(record))
    assert _report(runs, tmp_path / "out") == 2
    line = _lines(capsys)[0]
    assert "cannot rebuild its test split" in line and "is not the one its per-query results were scored on" in line
    assert not (tmp_path / "out").exists()
