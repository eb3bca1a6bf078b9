"""One-off: rewrite code written against the flat core to the floors (itr_bench/layers.py).

For merging branches that forked before the core was split into sub-packages. Run it from the
repository root after the merge, on the files the branch changed, then resolve what it prints:

    git diff --name-only main...BRANCH | xargs python tools/migrate_to_floors.py

It rewrites, in place, ``itr_bench.X`` dotted names (imports, monkeypatch targets, docs),
``itr_bench/X.py`` paths, and relative imports inside ``itr_bench/`` that no longer resolve from
the file's new folder (read from its old one instead). A name already in the new layout is left
alone. Delete this file once no branch needs it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

#: old module -> new module (the moves of the floors commit)
MOVES = {
    "itr_bench.atomic": "itr_bench.store.atomic",
    "itr_bench.files": "itr_bench.store.files",
    "itr_bench.locking": "itr_bench.store.locking",
    "itr_bench.failures": "itr_bench.store.failures",
    "itr_bench.run_record": "itr_bench.store.record",
    "itr_bench.record_ranges": "itr_bench.store.record_ranges",
    "itr_bench.store": "itr_bench.store.state",
    "itr_bench.per_query": "itr_bench.store.per_query",
    "itr_bench.metrics": "itr_bench.metrics.ranks",
    "itr_bench.metric_declarations": "itr_bench.metrics.declarations",
    "itr_bench.collapse": "itr_bench.metrics.collapse",
    "itr_bench.leaderboard": "itr_bench.results.leaderboard",
    "itr_bench.leaderboard_text": "itr_bench.results.leaderboard_text",
    "itr_bench.stats": "itr_bench.results.stats",
    "itr_bench.seed_configs": "itr_bench.results.seed_configs",
    "itr_bench.query_bootstrap": "itr_bench.results.query_bootstrap",
    "itr_bench.data.device": "itr_bench.feed.device",
    "itr_bench.data.placement": "itr_bench.feed.placement",
    "itr_bench.data.slots": "itr_bench.feed.slots",
    "itr_bench.data.streaming": "itr_bench.feed.streaming",
    "itr_bench.data.transforms": "itr_bench.feed.transforms",
    "itr_bench.data.samplers": "itr_bench.feed.samplers",
    "itr_bench.data.cached": "itr_bench.feed.cached",
    "itr_bench.engine.feeding": "itr_bench.feed.feeding",
    "itr_bench.engine.negatives": "itr_bench.feed.negatives",
    "itr_bench.suites": "itr_bench.suites.plan",
}
#: names that left suites.py for suites/executors.py, and commands/run.py's outcome_line
EXECUTORS = {"Outcome", "execute_one", "execute_local", "execute_ray", "outcome_line"}
OLD_OF = {new: old for old, new in MOVES.items()}
ROOT = Path.cwd()
DOTTED = re.compile(r"\bitr_bench(?:\.[A-Za-z_]\w*)+")
PATH = re.compile(r"\bitr_bench(?:/\w+)+\.py\b")
HIDE = "\x00"  # stands for the "i" of an itr_bench already rewritten on the line
RELATIVE = re.compile(r"^(\s*from\s+)(\.+)([\w.]*)(\s+import\s+)(.*)$")


def exists(module: str) -> bool:
    base = ROOT / module.replace(".", "/")
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def new_name(dotted: str) -> str:
    """``dotted`` in the new layout (unchanged when it is already there or never moved)."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        old = ".".join(parts[:n])
        if old in MOVES:
            if any(exists(".".join(parts[:k])) for k in range(n + 1, len(parts) + 1)):
                return dotted  # names a module of the new layout below it (itr_bench.store.locking)
            if n == len(parts) and exists(old):  # itr_bench.store: the old module or the new package?
                print(f"  check by hand: {dotted} (now a package)", file=sys.stderr)
                return dotted
            rest = parts[n:]
            target = MOVES[old]
            if target == "itr_bench.suites.plan" and rest and rest[0] in EXECUTORS:
                target = "itr_bench.suites.executors"
            return ".".join([target, *rest])
    if dotted.startswith("itr_bench.commands.run.outcome_line"):
        return dotted.replace("itr_bench.commands.run", "itr_bench.suites.executors", 1)
    return dotted


def from_import(module: str, names: str) -> str:
    """``from module import names`` in the new layout (one statement; names as written)."""
    listed = [n.strip().split(" as ")[0] for n in names.strip("()").split(",") if n.strip()]
    if not listed:  # ``from module import (`` over several lines
        return new_name(module)
    targets = {new_name(f"{module}.{name}").rpartition(".")[0] for name in listed}
    if len(targets) == 1:
        return targets.pop()
    print(f"  split by hand: from {module} import {names.strip()}  ({sorted(targets)})", file=sys.stderr)
    return module


def module_of(path: Path) -> str:
    parts = list(path.with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def fix_relative(line: str, path: Path) -> str:
    """A relative import of the core that does not resolve from the file's folder, read from the
    folder the file had before the move."""
    m = RELATIVE.match(line)
    if not m:
        return line
    lead, dots, rest, mid, names = m.groups()
    module = module_of(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def resolve(pkg: str) -> str:
        base = pkg.split(".")[: len(pkg.split(".")) - len(dots) + 1]
        return ".".join(base + ([rest] if rest else []))

    here = resolve(package)
    if here in MOVES and exists(here):  # ``from ..metrics import ranks`` (new) or ``import top_ranked`` (old)
        target = from_import(here, names)
    elif exists(here) or (not rest and names):
        return line
    else:
        old_module = OLD_OF.get(module, module)
        old_package = old_module if path.name == "__init__.py" else old_module.rpartition(".")[0]
        target = from_import(resolve(old_package), names)
    common = 0
    a, b = package.split("."), target.split(".")
    while common < min(len(a), len(b)) and a[common] == b[common]:
        common += 1
    spec = "." * (len(a) - common + 1) + ".".join(b[common:])
    return f"{lead}{spec}{mid}{names}"


def migrate(path: Path) -> bool:
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    out = []
    for line in lines:
        body, newline = (line[:-1], "\n") if line.endswith("\n") else (line, "")
        if path.suffix == ".py" and path.parts[0] == "itr_bench":
            body = fix_relative(body, path)
        # the module of a ``from`` import is settled from its names, and hidden from the passes below
        body = re.sub(r"\bfrom (itr_bench(?:\.\w+)*) import ([\w, ()]*(?: as \w+)?)",
                      lambda m: f"from {HIDE + from_import(m.group(1), m.group(2))[1:]} import {m.group(2)}", body)
        body = DOTTED.sub(lambda m: new_name(m.group(0)), body)
        body = PATH.sub(lambda m: new_name(m.group(0)[:-3].replace("/", ".")).replace(".", "/") + ".py", body)
        body = body.replace(HIDE, "i")
        out.append(body + newline)
    new = "".join(out)
    if new != text:
        path.write_text(new)
    return new != text


if __name__ == "__main__":
    for name in sys.argv[1:]:
        path = Path(name)
        skip = name.startswith("leaderboards/") or name in {"itr_bench/layers.py", "tools/migrate_to_floors.py"}
        if path.is_file() and path.suffix in {".py", ".md", ".toml", ".tmpl"} and not skip:
            if migrate(path):
                print(f"rewrote {name}")
