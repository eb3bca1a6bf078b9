"""The core's floors hold: no module imports from a floor above its own, and plugins, scaffold
templates and plugin docs import only the public surface (both declared in itr_bench/layers.py).

Imports are read with ``ast`` (nothing is imported, torch neither), every one of them: at module
level, inside functions (lazy imports) and under ``TYPE_CHECKING``; a lazy import is still a
dependency.
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

from itr_bench.layers import FLOORS, PUBLIC

ROOT = Path(__file__).resolve().parents[2]

#: Plugin modules allowed to import an internal core module: (path under plugins/, module) -> why.
#: Empty: every built-in plugin uses the public surface only, as a third party would.
PLUGIN_EXCEPTIONS: dict[tuple[str, str], str] = {}

#: Docs that show internal modules on purpose: (path, module) -> why. Plugin docs may not.
DOC_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("docs/report.md", "itr_bench.store.per_query"): "a user's notebook reading per_query.npz, not a plugin",
    ("docs/report.md", "itr_bench.metrics.ranks"): "the command that measured the file size quoted there",
}


def core_modules(root: Path) -> dict[str, Path]:
    """Every module of the core under ``root`` by dotted name (a package by its own name)."""
    out = {}
    for path in sorted((root / "itr_bench").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imported(source: str, module: str | None, is_package: bool, known: set[str]) -> list[tuple[int, str]]:
    """``(line, itr_bench module)`` for every import of the core in ``source``; ``module`` is the
    importing module's name (None outside the core: relative imports are then not the core's)."""
    package = (module if is_package else module.rpartition(".")[0]) if module else None
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "itr_bench"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if package is None:
                    continue
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "itr_bench":
                continue
            for alias in node.names:  # ``from itr_bench.feed import placement`` imports a module
                sub = f"{target}.{alias.name}"
                found.append((node.lineno, sub if sub in known else target))
    return found


def _owner(module: str, members: dict[str, int]) -> str | None:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in members:
            return ".".join(parts[:n])
    return None


def floor_of(module: str) -> int | None:
    """The index in FLOORS of the floor holding ``module`` (its longest listed prefix), or None."""
    members = {member: i for i, (_, names) in enumerate(FLOORS) for member in names}
    owner = _owner(module, members)
    if owner == "itr_bench" and module != "itr_bench":
        return None  # a top-level module must be listed itself, not inherit the package's floor
    return None if owner is None else members[owner]


def upward_imports(root: Path) -> list[str]:
    """One line per import that runs up a floor, or whose module has no floor."""
    modules = core_modules(root)
    problems = []
    for module, path in modules.items():
        own = floor_of(module)
        if own is None:
            problems.append(f"{path.relative_to(root)}: {module} is on no floor of itr_bench/layers.py")
            continue
        for line, target in imported(path.read_text(), module, path.name == "__init__.py", set(modules)):
            floor = floor_of(target)
            if floor is None or floor > own:
                above = "no floor" if floor is None else f"floor {FLOORS[floor][0]!r}"
                problems.append(f"{path.relative_to(root)}:{line}: {module} (floor {FLOORS[own][0]!r}) "
                                f"imports {target} ({above})")
    return problems


def is_public(module: str) -> bool:
    """A public module, or a name imported from one (``itr_bench.api.Loss`` read as a module)."""
    return any(module == name or module.startswith(name + ".") for name in PUBLIC if name != "itr_bench") \
        or module == "itr_bench"


def internal_imports(source: str, where: str, known: set[str], allowed: dict[tuple[str, str], str]) -> list[str]:
    return [f"{where}:{line}: imports {module}, which is internal (public: itr_bench/layers.py PUBLIC)"
            for line, module in imported(source, None, False, known)
            if not is_public(module) and (where, module) not in allowed]


def template_source(text: str) -> str:
    """A scaffold template as Python: ``${name}`` placeholders become identifiers."""
    return re.sub(r"\$\{(\w+)\}", r"x_\1", text)


DOC_IMPORT = re.compile(r"(?:^\s*|[;\"`]\s*)(from (itr_bench[\w.]*) import \(?\s*([\w, ]+)|import (itr_bench[\w.]*))")


def doc_imports(text: str) -> str:
    """The imports of the core in a Markdown file (code blocks, inline ``python -c`` commands and
    inline code), as Python with the file's line numbers."""
    out = []
    for line in text.splitlines():
        found = [f"from {m[0]} import {m[1].strip().rstrip(',')}" if m[0] else f"import {m[2]}"
                 for m in (match.groups()[1:] for match in DOC_IMPORT.finditer(line))]
        out.append("; ".join(found))
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# The real tree
# --------------------------------------------------------------------------------------------


def test_floors_name_each_member_once_and_each_exists():
    members = [member for _, names in FLOORS for member in names]
    assert len(members) == len(set(members))
    modules = core_modules(ROOT)
    missing = [m for m in members if m not in modules]
    assert not missing, f"floors name modules that do not exist: {missing}"


def test_every_sub_package_is_one_floor():
    """Folders say the floors: a sub-package is listed as a whole, never split across floors."""
    listed = {member for _, names in FLOORS for member in names}
    packages = {path.parent.name for path in (ROOT / "itr_bench").glob("*/__init__.py")}
    assert {f"itr_bench.{name}" for name in packages} <= listed
    assert not [m for m in listed if m.count(".") > 1], "a floor lists a module inside a sub-package"


def test_no_import_runs_up_a_floor():
    assert upward_imports(ROOT) == []


def test_public_modules_exist_and_contributing_lists_them():
    modules = core_modules(ROOT)
    assert [name for name in PUBLIC if name not in modules] == []
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    assert [name for name in PUBLIC if f"`{name}`" not in contributing] == []


def test_plugins_import_only_the_public_surface():
    known = set(core_modules(ROOT))
    problems = []
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        where = str(path.relative_to(ROOT / "plugins"))
        problems += internal_imports(path.read_text(), where, known, PLUGIN_EXCEPTIONS)
    assert problems == []


def test_scaffold_templates_import_only_the_public_surface():
    known = set(core_modules(ROOT))
    templates = sorted((ROOT / "itr_bench" / "templates").rglob("*.py.tmpl"))
    assert templates
    problems = []
    for path in templates:
        problems += internal_imports(template_source(path.read_text()), str(path.relative_to(ROOT)), known, {})
    assert problems == []


def test_docs_import_only_the_public_surface_unless_stated():
    known = set(core_modules(ROOT))
    docs = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
    problems = []
    for path in docs:
        where = str(path.relative_to(ROOT))
        problems += internal_imports(doc_imports(path.read_text()), where, known, DOC_EXCEPTIONS)
    assert problems == []


# --------------------------------------------------------------------------------------------
# The checks can fail
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "bad"), [
    # the store asking the engine
    ("itr_bench/store/state.py", "from ..engine.run import train_run\n"),
    # the import the config had before the constant moved to it
    ("itr_bench/config.py", "from .feed.placement import DEVICE_MEMORY_FRACTION\n"),
    # a lazy import inside a function counts too
    ("itr_bench/metrics/ranks.py", "def _late():\n    from ..results.stats import paired\n"),
    # and one for type checkers only
    ("itr_bench/errors.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .suites.plan import PlannedRun\n"),
    # an absolute import, of a package by name
    ("itr_bench/api.py", "import itr_bench.commands\n"),
    ("itr_bench/feed/device.py", "from itr_bench import testing\n"),
])
def test_an_upward_import_in_a_copy_of_the_tree_is_refused(tmp_path, path, bad):
    shutil.copytree(ROOT / "itr_bench", tmp_path / "itr_bench", ignore=shutil.ignore_patterns("__pycache__", "templates"))
    assert upward_imports(tmp_path) == []
    target = tmp_path / path
    target.write_text(target.read_text() + "\n" + bad)
    problems = upward_imports(tmp_path)
    assert len(problems) == 1 and problems[0].startswith(f"{path}:"), problems


def test_a_top_level_module_on_no_floor_is_refused(tmp_path):
    shutil.copytree(ROOT / "itr_bench", tmp_path / "itr_bench", ignore=shutil.ignore_patterns("__pycache__", "templates"))
    (tmp_path / "itr_bench" / "helpers.py").write_text("from .errors import ItrBenchError\n")
    assert upward_imports(tmp_path) == ["itr_bench/helpers.py: itr_bench.helpers is on no floor of itr_bench/layers.py"]


@pytest.mark.parametrize(("source", "refused"), [
    ("from itr_bench.store.state import inspect_folder\n", True),
    ("import itr_bench.engine.run\n", True),
    ("def f():\n    from itr_bench.results.leaderboard import write_leaderboards\n", True),
    ("from itr_bench.data import prepare\n", True),
    ("from itr_bench import lazy, hookimpl\n", False),
    ("from itr_bench.api import Loss, LossContext\n", False),
    ("import itr_bench.data.text\n", False),
    ("from itr_bench.data.text import Vocabulary\n", False),
    ("from .sibling import x\n", False),  # a plugin's own relative import is not the core's
])
def test_a_plugin_importing_an_internal_module_is_refused(source, refused):
    problems = internal_imports(source, "my_plugin.py", set(core_modules(ROOT)), {})
    assert bool(problems) == refused, problems


def test_doc_imports_are_read_from_code_blocks_and_inline_commands():
    text = ('```python\nfrom itr_bench.store.per_query import read_query_results\n```\n'
            'python -c "import torch; from itr_bench.metrics.ranks import image_caption_queries; x"\n'
            'Declare it with `from itr_bench.api import Search`.\n')
    assert internal_imports(doc_imports(text), "doc.md", set(core_modules(ROOT)), {}) == [
        "doc.md:2: imports itr_bench.store.per_query, which is internal (public: itr_bench/layers.py PUBLIC)",
        "doc.md:4: imports itr_bench.metrics.ranks, which is internal (public: itr_bench/layers.py PUBLIC)",
    ]
