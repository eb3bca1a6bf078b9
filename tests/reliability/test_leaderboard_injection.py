"""Text that reaches a leaderboard cannot inject Markdown, HTML or spreadsheet formulas (issue 30, case 6).

Each hostile text goes in once through a record (or a failure note) and once through a caption
file, and the written Markdown and CSV must hold it inert.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from itr_bench.results.leaderboard_text import csv_text, markdown_text

from .test_edited_data import write_captions_suite

SCRIPT = "nope.jpg|<script>alert(1)</script>| fake | 999 |"


def write_record(root, seed, **fields):
    folder = root / "s" / "captions" / "good" / f"seed-{seed}"
    folder.mkdir(parents=True)
    record = {"suite": "s", "dataset": "captions", "run": "good", "seed": seed, "epochs": 1,
              "test": {"rsum": 300.0 + seed}, "image_encoder": "img", "text_encoder": "txt",
              "objective": [{"epochs": 1, "losses": {"instance": 1.0}}], **fields}
    (folder / "record.json").write_text(json.dumps(record))


def board(cli, root, out):
    code, _, err = cli("leaderboard", root, "--out", out)
    assert code == 0, err
    return (out / "s__captions.md").read_text(), (out / "s__captions.csv").read_bytes().decode()


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\")", "+1+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_text_in_a_record_is_a_quoted_cell_in_the_csv(cli, tmp_path, text):
    for seed in (0, 1):
        write_record(tmp_path / "runs", seed, image_encoder=text)
    _, table = board(cli, tmp_path / "runs", tmp_path / "boards")
    row = next(csv.DictReader(io.StringIO(table)))
    assert row["image_encoder"] == "'" + text.replace("\r", "\n")  # a bare CR would end the row


def test_negative_numbers_stay_numbers_in_the_csv():
    assert csv_text(-2.5) == -2.5 and csv_text("-2.5") == "'-2.5"


def test_a_loss_name_with_a_newline_adds_no_row_or_heading(cli, tmp_path):
    name = "instance\n| fake | 1 |\n### Fake heading\n<img src=x onerror=alert(1)>"
    for seed in (0, 1):
        write_record(tmp_path / "runs", seed, objective=[{"epochs": 1, "losses": {name: 1.0}}])
    markdown, _ = board(cli, tmp_path / "runs", tmp_path / "boards")
    table = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len(table) == 3  # header, rule, the one run
    assert [line for line in markdown.splitlines() if line.startswith("#")] == ["### s on captions"]
    assert "<img" not in markdown
    assert "instance \\| fake \\| 1 \\| ### Fake heading &lt;img src=x onerror=alert(1)>(1)" in table[2]


def test_a_failure_note_is_escaped(cli, tmp_path):
    for seed in (0, 1):
        write_record(tmp_path / "runs", seed)
    note = tmp_path / "runs" / "s" / "captions" / "bad" / "seed-0" / "failed.json"
    note.parent.mkdir(parents=True)
    note.write_text(json.dumps({"run": "captions/bad/seed-0", "suite": "s", "dataset": "captions",
                                "reason": f"{SCRIPT}\n## Fake"}))
    markdown, _ = board(cli, tmp_path / "runs", tmp_path / "boards")
    assert markdown.splitlines()[-1] == f"- failed: captions/bad/seed-0: {markdown_text(SCRIPT)} ## Fake"
    assert "<script>" not in markdown


def test_a_hostile_image_path_in_a_caption_file_lands_escaped_in_the_failure_note(cli, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    with open(root / "captions.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filepath", "title"])
        writer.writerows([[SCRIPT, "=cmd|' /C calc'!A0"]] * 3)
    suite = write_captions_suite(tmp_path / "s.toml", tmp_path / "cache", root, name="s", run="bad")
    for seed in (0, 1):  # an earlier good run, so the board exists beside the failure
        write_record(tmp_path / "store", seed)
    code, _, err = cli("run", suite, "--store", tmp_path / "store", "--no-progress")
    assert code != 0 and "failed: captions/bad/seed-0" in err
    markdown = (tmp_path / "store" / "s" / "leaderboard" / "s__captions.md").read_text()
    failure = markdown.splitlines()[-1]
    assert failure.startswith("- failed: captions/bad/seed-0: ") and "<script>" not in markdown
    assert markdown_text(SCRIPT) in failure
