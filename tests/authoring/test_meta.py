"""Meta-tests, as datasette has: every hook in itr_bench/hookspecs.py is documented (docstring, and in
the plugin tutorial or CONTRIBUTING.md) and has a test whose name mentions it."""

from __future__ import annotations

import re
from pathlib import Path

from itr_bench import hookspecs

REPO = Path(__file__).resolve().parents[2]
DOCS = (REPO / "docs" / "tutorial-loss-plugin.md", REPO / "CONTRIBUTING.md")
HOOKS = sorted(name for name, obj in vars(hookspecs).items() if hasattr(obj, f"{hookspecs.PROJECT}_spec"))


def test_the_hookspecs_are_found():
    assert "register_losses" in HOOKS and "register_commands" in HOOKS


def test_every_hook_has_a_docstring_saying_what_it_receives():
    missing = [hook for hook in HOOKS if ":param" not in (getattr(hookspecs, hook).__doc__ or "")]
    assert not missing, f"hooks without a docstring documenting their parameter: {', '.join(missing)}"


def test_every_hook_is_documented_for_plugin_authors():
    text = "\n".join(path.read_text() for path in DOCS if path.is_file())
    missing = [hook for hook in HOOKS if f"`{hook}`" not in text]
    assert not missing, f"hooks documented in neither {' nor '.join(p.name for p in DOCS)}: {', '.join(missing)}"


def test_every_hook_has_a_test_named_after_it():
    names = set()
    for path in (REPO / "tests").rglob("test_*.py"):
        names.update(re.findall(r"^\s*def (test_\w+)", path.read_text(), flags=re.MULTILINE))
    missing = [hook for hook in HOOKS if not any(hook in name for name in names)]
    assert not missing, f"hooks with no test whose name mentions them: {', '.join(missing)}"

