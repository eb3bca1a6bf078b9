"""Reading a report page's marks back (the tests of ``itr-bench report``, with or without a browser)."""

from html.parser import HTMLParser


class QueryMarks(HTMLParser):
    """The page's queries as its marks say: per ``section.query``, its truths and per run row
    the rank and which of the shown items are ``.hit``."""

    def __init__(self):
        super().__init__()
        self.queries, self.urls = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        self.urls += [v for k, v in attrs.items() if k in ("src", "href") and v]
        if tag == "section" and "query" in classes:
            self.queries.append({"direction": attrs["data-direction"], "query": int(attrs["data-query"]),
                                 "truths": 0, "rows": []})
        elif "truth-item" in classes:
            self.queries[-1]["truths"] += 1
        elif tag == "tr" and "run-row" in classes:
            self.queries[-1]["rows"].append({"run": attrs["data-run"], "rank": int(attrs["data-rank"]), "hits": []})
        elif tag == "td" and "item" in classes:
            self.queries[-1]["rows"][-1]["hits"].append("hit" in classes)


def page_marks(html):
    parser = QueryMarks()
    parser.feed(html)
    return parser


def assert_every_query_marked(marks, shown=5):
    """Each query shows a correct match; each run's first correct match is marked where it ranks."""
    assert marks.queries
    for query in marks.queries:
        assert query["truths"] >= 1, query
        for row in query["rows"]:
            assert len(row["hits"]) == shown
            first = row["hits"].index(True) if any(row["hits"]) else None
            assert first == (row["rank"] if row["rank"] < shown else None), (query, row)
