"""Text from records and failure notes, made inert before it reaches a leaderboard file.

Records and ``failed.json`` notes are JSON anyone can write, and a failure reason quotes the
user's own data (a caption file's image path). Leaderboards are read as Markdown (rendered to
HTML on GitHub and in docs) and CSV (opened in spreadsheets), so every text cell is escaped:

- Markdown: ``&`` and ``<`` become entities (no HTML tag or entity can form), ``|`` and ``\\``
  are escaped (no new cell), and line breaks become spaces (no new row, heading or list item);
- CSV: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is
  prefixed with ``'`` (the OWASP rule against formula injection), so a spreadsheet shows it as
  text. Numbers, negative ones included, stay numbers: only ``str`` cells are touched. A
  carriage return inside a cell becomes a line feed (quoted by the writer, unlike a bare CR).
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

#: Characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_BREAKS = re.compile(r"[\r\n\u2028\u2029\x0b\x0c\x85]+")


def markdown_text(value: Any) -> str:
    """``value`` as text safe inside a Markdown table cell or list item (see the module)."""
    text = _BREAKS.sub(" ", str(value))
    return text.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;").replace("|", "\\|")


def csv_text(value: Any) -> Any:
    """``value`` unchanged unless it is text a spreadsheet would run as a formula (then quoted)
    or text with a carriage return (it becomes a line feed, which the CSV writer quotes; a bare
    CR it leaves unquoted, and readers take it for the end of the row)."""
    if not isinstance(value, str):
        return value
    quoted = "'" + value if value.startswith(FORMULA_STARTS) else value
    return quoted.replace("\r\n", "\n").replace("\r", "\n")


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are :func:`csv_text`; numeric columns are untouched."""
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    return frame.assign(**{c: frame[c].map(csv_text) for c in text}) if text else frame
