"""The report's HTML: one static page, no script, no network; every text from data escaped.

Marks the page's readers (and its browser test) rely on: each query is a ``section.query``
(``data-direction``, ``data-query``) holding its correct match(es) as ``.truth-item`` and one
``tr.run-row`` per run (``data-run``, ``data-rank``: the 0-based rank of its first correct
match) whose retrieved items are ``.item``, the correct ones also ``.hit``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np

from ..metrics.declarations import DECLARED
from ..store.per_query import QueryResults
from .queries import KINDS, MISS_BEYOND, Query
from .runs import ReportRun
from .split import ScoredSplit

#: Items shown per run and query.
SHOWN = 5
#: Correct matches shown beside a query (an image's captions, a person's images).
TRUTHS = 5

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 4px 6px; vertical-align: top; text-align: left; }
.runs-table td { font-size: 13px; }
section.query { border: 1px solid #bbb; border-radius: 6px; margin: 1em 0; padding: 0.6em; }
.query-head { margin-bottom: 0.5em; }
.query-text { font-weight: 600; }
.item { display: inline-block; position: relative; margin: 2px; border: 3px solid transparent;
        vertical-align: middle; }
td.item { display: table-cell; width: 18%; font-size: 12px; }
.hit { border-color: #1a9850 !important; background: #e5f5e0; }
.hit::after { content: "\\2713"; position: absolute; top: 0; right: 2px; color: #1a9850; font-weight: 700; }
.truth-item { border-color: #1a9850; }
img.thumb { width: 96px; height: 96px; object-fit: contain; image-rendering: pixelated; background: #f4f4f4;
            display: block; }
.placeholder { display: flex; width: 96px; height: 96px; align-items: center; justify-content: center;
               background: repeating-linear-gradient(45deg, #eee, #eee 6px, #ddd 6px, #ddd 12px);
               font-size: 11px; text-align: center; }
.rank-miss { color: #b2182b; font-weight: 600; }
.rank-first { color: #1a9850; font-weight: 600; }
.charts img { max-width: 48%; }
.note { color: #555; }
"""


@dataclass(frozen=True)
class PageInput:
    """Everything the page shows."""

    runs: Sequence[ReportRun]
    split: ScoredSplit
    thumbnails: Mapping[int, str | None]
    sampled: Sequence[Query]
    disagreeing: Sequence[Query]
    disagreement_counts: Mapping[str, int]
    charts: Sequence[str]
    out_dir: Path
    seed: int


def render(page: PageInput) -> str:
    first = page.runs[0].results
    dataset = page.runs[0].record["dataset"]
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>itr-bench report: {escape(dataset)} test</title>", f"<style>{STYLE}</style></head><body>",
        f"<h1>What the runs retrieve: {escape(dataset)}, test split</h1>",
        (f'<p class="note">{first.meta["images"]} images, {first.meta["captions"]} captions, '
         f'{escape(first.protocol)} protocol; {len(page.runs)} run(s). Green: a correct match '
         f"(\u2713). Ranks are 1-based; a run \u201cmisses\u201d a query when its first correct match is "
         f"outside its top {MISS_BEYOND}.</p>"),
        _runs_table(page), '<h2 id="charts">Recall@K and first-match ranks</h2>', '<div class="charts">',
        *[f'<img src="{escape(chart)}" alt="{escape(chart)}">' for chart in page.charts], "</div>",
        '<h2 id="disagreements">Where the runs disagree</h2>',
        (f'<p class="note">Queries one run ranks first while another misses: '
         f"{_counts(page.disagreement_counts)}; the widest gaps shown.</p>"),
        *(_queries(page, page.disagreeing) or ['<p class="note">None.</p>']),
        (f'<h2 id="sampled">Sampled queries</h2><p class="note">Drawn at random (seed {page.seed}), '
         "the same for every run.</p>"),
        *_queries(page, page.sampled),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{n} {KINDS[d][0]} queries" for d, n in counts.items())


def _runs_table(page: PageInput) -> str:
    shown = [m for m in DECLARED.names if (DECLARED[m].paired or m.endswith("map_r"))
             and any(m in run.record["test"] for run in page.runs)]
    head = "".join(f"<th>{escape(DECLARED[m].label)}</th>" for m in shown)
    rows = []
    for run in page.runs:
        test = run.record["test"]
        cells = "".join(f"<td>{test[m]:{DECLARED[m].format}}</td>" if m in test else "<td>-</td>" for m in shown)
        link = os.path.relpath(run.record_path, page.out_dir)
        rows.append(f"<tr><td>{escape(run.label)}</td><td>{escape(_objective(run))}</td>"
                    f"<td>{escape(str(run.record.get('image_encoder', '?')))} / "
                    f"{escape(str(run.record.get('text_encoder', '?')))}</td>"
                    f"<td>{escape(str(run.record.get('best_epoch', '?')))} of {escape(str(run.record.get('epochs', '?')))}"
                    f"</td>{cells}<td><a href=\"{escape(link)}\">record.json</a></td></tr>")
    return ('<h2 id="runs">Runs</h2><table class="runs-table"><tr><th>run</th><th>objective</th><th>encoders</th>'
            f"<th>best epoch</th>{head}<th>record</th></tr>" + "".join(rows) + "</table>")


def _objective(run: ReportRun) -> str:
    """``infonce(1) 4ep -> ranking(2)+instance(1) 4ep`` from the record's stages."""
    stages = run.record.get("objective") or []
    try:
        return " -> ".join("+".join(f"{name}({weight:g})" for name, weight in stage.get("losses", {}).items())
                           + f" {stage.get('epochs')}ep" for stage in stages)
    except (AttributeError, TypeError, ValueError):
        return "?"


def _queries(page: PageInput, queries: Sequence[Query]) -> list[str]:
    blocks = []
    for direction in ("t2i", "i2t"):
        chosen = [q for q in queries if q.direction == direction]
        if chosen:
            query_kind, item_kind = KINDS[direction]
            blocks.append(f"<h3>{query_kind.capitalize()} \u2192 {item_kind}s</h3>")
            blocks += [_query(page, q) for q in chosen]
    return blocks


def _query(page: PageInput, query: Query) -> str:
    first = page.runs[0].results
    head = (_caption_query(page, first, query.index) if query.direction == "t2i"
            else _image_query(page, first, query.index))
    rows = []
    for run in page.runs:
        direction = run.results.directions[query.direction]
        rank = int(direction.rank[query.index])
        top = direction.top[query.index][:SHOWN]
        hits = run.results.correct(query.direction, query.index, top)
        items = "".join(_item(page, query.direction, int(i), bool(hit)) for i, hit in zip(top, hits))
        css = "rank-first" if rank == 0 else "rank-miss" if rank >= MISS_BEYOND else ""
        rows.append(f'<tr class="run-row" data-run="{escape(run.label)}" data-rank="{rank}">'
                    f'<th>{escape(run.label)}<br><span class="{css}">first match: rank {rank + 1}</span></th>'
                    f"{items}</tr>")
    return (f'<section class="query" data-direction="{query.direction}" data-query="{query.index}">'
            f'{head}<table>{"".join(rows)}</table></section>')


def _caption_query(page: PageInput, results: QueryResults, caption: int) -> str:
    matches = np.flatnonzero(results.image_label == results.image_label[results.caption_image[caption]])[:TRUTHS]
    truths = "".join(_thumb(page, int(i), "item truth-item") for i in matches)
    return (f'<div class="query-head">caption {caption}: <span class="query-text">'
            f"{escape(page.split.captions[caption])}</span><br>correct: {truths}</div>")


def _image_query(page: PageInput, results: QueryResults, image: int) -> str:
    own = np.flatnonzero(results.image_label[results.caption_image] == results.image_label[image])[:TRUTHS]
    truths = "".join(f'<li class="truth-item">{escape(page.split.captions[int(c)])}</li>' for c in own)
    return (f'<div class="query-head">image {image} (id {escape(page.split.image_ids[image])}):'
            f'{_thumb(page, image, "item query-image")}correct captions:<ul>{truths}</ul></div>')


def _item(page: PageInput, direction: str, index: int, hit: bool) -> str:
    css = "item hit" if hit else "item"
    if direction == "t2i":
        return f'<td class="{css}" data-index="{index}">{_thumb(page, index, "")}</td>'
    return f'<td class="{css}" data-index="{index}">{escape(page.split.captions[index])}</td>'


def _thumb(page: PageInput, image: int, css: str) -> str:
    path = page.thumbnails.get(image)
    title = escape(f"image {image} (id {page.split.image_ids[image]})")
    if path is None:
        return f'<span class="{css} placeholder" title="{title}">image {image}<br>unavailable</span>'
    return f'<span class="{css}"><img class="thumb" src="{escape(path)}" alt="{title}" title="{title}"></span>'
