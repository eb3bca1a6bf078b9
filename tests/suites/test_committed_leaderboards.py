"""The committed leaderboards are generated from the committed run records, never edited by hand.

Regenerating them from ``leaderboards/records`` with the command the README gives,
``itr-bench leaderboard leaderboards/records --out leaderboards --baseline ranking`` (the
shoot-outs' records store the alphabetical baseline of their time, cmpc; the ablations' tables
have no ``ranking`` run and keep their suites' ``ranking-only``), must give the committed CSV
and Markdown files byte for byte (the PNGs depend on the installed matplotlib, so only their
presence is checked), and every committed leaderboard must come from records.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from itr_bench.results.leaderboard import aggregate, load_records, write_leaderboards

BOARDS = Path(__file__).resolve().parents[2] / "leaderboards"
BASELINE = ("ranking",)
COMMITTED = sorted(p.name for p in BOARDS.glob("*__*.*") if p.suffix in {".csv", ".md", ".png"})


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    records = load_records(BOARDS / "records")
    out = tmp_path_factory.mktemp("boards")
    write_leaderboards(aggregate(records, baseline=BASELINE), out, records.attrs["failed"], records)
    return out


def test_there_are_committed_leaderboards():
    assert COMMITTED, f"no leaderboard files in {BOARDS}"


def test_every_committed_leaderboard_comes_from_records(regenerated):
    assert sorted(p.name for p in regenerated.iterdir()) == COMMITTED


@pytest.mark.parametrize("name", [n for n in COMMITTED if not n.endswith(".png")])
def test_committed_leaderboard_matches_its_records(regenerated, name):
    assert (regenerated / name).read_text() == (BOARDS / name).read_text(), (
        f"leaderboards/{name} differs from what its records give: "
        "run `itr-bench leaderboard leaderboards/records --out leaderboards --baseline ranking`")
