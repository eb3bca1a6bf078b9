"""Reading the datasets' annotation files, with errors that name the file, the line and the cause.

Every loader goes through these helpers so that a bad distribution fails the same way
everywhere: one :class:`~itr_bench.errors.ConfigError` line ``path:line: cause``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from itr_bench.api import Sample
from itr_bench.errors import ConfigError


def require_root(root: Path | str | None, dataset: str) -> Path:
    """The dataset's root folder; a missing one is a user error."""
    if root is None:
        raise ConfigError(f"{dataset}: no root folder given (pass --root DIR)")
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: {dataset} root folder does not exist")
    return root


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise ConfigError(f"{path}: {what} is missing")
    return path


def find_file(root: Path, candidates: Sequence[str], what: str) -> Path:
    """The first of ``candidates`` (names or globs, relative to ``root``) that exists."""
    for pattern in candidates:
        matches = sorted(root.glob(pattern))
        if matches:
            return matches[0]
    raise ConfigError(f"{root}: no {what} found (looked for {', '.join(candidates)})")


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its newline) of a text file, plain or ``.gz``."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig") as handle:  # -sig: a byte-order mark (Excel) is dropped
            for number, line in enumerate(handle, start=1):
                yield number, line.rstrip("\r\n")
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise ConfigError(f"{path}: cannot read text: {exc}") from None


def parse_token_file(path: Path) -> dict[str, list[str]]:
    """Flickr's ``image#k<TAB>caption`` file -> captions per image name, in file order.

    Blank lines are skipped; a line without the tab or the ``#k`` suffix, an empty caption
    or a repeated ``image#k`` key is an error naming the line.
    """
    captions: dict[str, list[str]] = {}
    seen: dict[str, int] = {}
    for number, line in read_lines(path):
        if not line.strip():
            continue
        key, tab, caption = line.partition("\t")
        image, _, index = key.rpartition("#")
        if not tab or not image or not index.isdigit():
            raise ConfigError(
                f"{path}:{number}: malformed caption line, expected 'image#k<TAB>caption': {line[:60]!r}"
            )
        if not caption.strip():
            raise ConfigError(f"{path}:{number}: empty caption for {key}")
        if key in seen:
            raise ConfigError(f"{path}:{number}: duplicate caption id {key} (first on line {seen[key]})")
        seen[key] = number
        captions.setdefault(image, []).append(caption.strip())
    if not captions:
        raise ConfigError(f"{path}: no captions found")
    return captions


def read_name_list(path: Path) -> list[tuple[int, str]]:
    """A split list (one image name or id per line) -> (line number, name); repeats are errors."""
    names: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for number, line in read_lines(path):
        name = line.strip()
        if not name:
            continue
        if name in seen:
            raise ConfigError(f"{path}:{number}: duplicate image {name!r} (first on line {seen[name]})")
        seen[name] = number
        names.append((number, name))
    return names


def load_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8-sig") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise ConfigError(f"{path}: JSON nested too deeply") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read JSON: {exc}") from None


def field(record: Any, name: str, path: Path, where: str, kind: type | tuple[type, ...] | None = None) -> Any:
    """``record[name]``, or an error naming the file, the record and the missing field."""
    if not isinstance(record, Mapping):
        raise ConfigError(f"{path}: {where} is a {type(record).__name__}, expected an object")
    if name not in record:
        raise ConfigError(f"{path}: {where} has no field {name!r}")
    value = record[name]
    if kind is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{path}: {where} field {name!r} is {type(value).__name__}, expected {expected}")
    return value


def clean_captions(captions: Iterable[Any], path: Path, where: str) -> tuple[str, ...]:
    """Captions stripped; an empty, non-string or missing caption is an error."""
    out = []
    for caption in captions:
        if not isinstance(caption, str) or not caption.strip():
            raise ConfigError(f"{path}: {where} has an empty caption")
        out.append(caption.strip())
    if not out:
        raise ConfigError(f"{path}: {where} has no captions")
    return tuple(out)


def numbered(samples: Iterable[Sample]) -> list[Sample]:
    """Samples with ``instance_id`` set to their position (one instance per image)."""
    return [
        Sample(image=s.image, captions=s.captions, instance_id=i, image_id=s.image_id)
        for i, s in enumerate(samples)
    ]


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise ConfigError(f"{path}: {what} folder does not exist")
    return path


def source_fingerprint(name: str, options: Mapping[str, Any], files: Iterable[Path]) -> str:
    """A key that changes with the options or with any source file's size or modification time.

    File contents are not hashed (COCO's annotations are hundreds of MB): size + mtime is what
    make-like tools use and catches every edit short of a same-size rewrite at the same instant.
    Folders contribute their own mtime, which changes when files are added or removed.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps({"dataset": name, "options": options}, sort_keys=True, default=str).encode())
    for path in files:
        stat = path.stat()
        digest.update(f"|{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return f"{name}-{digest.hexdigest()[:16]}"
