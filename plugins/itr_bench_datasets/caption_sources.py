"""Reading a user's caption collection into rows: CSV/TSV, JSONL or a Hugging Face dataset.

Every reader returns :class:`Row` objects that remember where they came from (``file:line``,
or ``folder (split row k)`` for a Hugging Face dataset), so any later error can name the file
and the row. Readers check what a single row can show (columns present, captions non-empty);
grouping rows into images and splitting belong to :mod:`.captions`.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itr_bench.errors import ConfigError

from .parsing import read_lines

#: Table formats by suffix, with their default separator (JSONL has none).
TABLE_FORMATS: Mapping[str, str | None] = {".csv": ",", ".tsv": "\t", ".jsonl": None}
#: Files that make a folder a Hugging Face ``save_to_disk`` dataset (one split / several).
SAVED_MARKERS = ("state.json", "dataset_dict.json")
#: Files that make a folder a Hugging Face ``imagefolder`` with captions.
IMAGEFOLDER_METADATA = ("metadata.jsonl", "metadata.csv")
#: Column defaults: open_clip's for tables, the ``datasets`` conventions for Hugging Face.
DEFAULT_KEYS: Mapping[str, tuple[str, str]] = {"table": ("filepath", "title"), "hf": ("image", "text")}


@dataclass(frozen=True)
class Source:
    """What to read: ``kind`` is ``csv``, ``jsonl``, ``saved`` (save_to_disk) or ``imagefolder``."""

    kind: str
    path: Path

    @property
    def family(self) -> str:
        return "hf" if self.kind in ("saved", "imagefolder") else "table"


@dataclass(frozen=True)
class Keys:
    """Column names. ``split``/``instance`` are optional unless ``required`` names them."""

    image: str
    caption: str
    split: str
    instance: str
    #: Optional columns the user named explicitly: missing them is an error, not a default.
    required: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Row:
    """One row of the source: an image, its caption(s), and optional split and instance."""

    where: str
    #: A path (resolved) or the encoded bytes of a Hugging Face image column.
    image: Path | bytes
    #: The image as the source names it (Hugging Face keeps only the file name of embedded images).
    image_key: str
    captions: tuple[str, ...]
    split: str | None
    instance: str | None

    @property
    def identity(self) -> tuple[str, str]:
        """Rows with the same identity are one image: the same path, or the same name and bytes."""
        if isinstance(self.image, bytes):
            return self.image_key, hashlib.sha1(self.image).hexdigest()
        return self.image_key, ""


def find_source(root: Path, file: str | None) -> Source:
    """The source under ``root`` (a folder or a file), or ``file`` relative to it."""
    if file is not None:
        path = Path(file) if Path(file).is_absolute() else root / file
        if not path.exists():
            raise ConfigError(f"{path}: file given by option file={file!r} does not exist")
        return _classify(path)
    if root.is_file():
        return _classify(root)
    if _is_saved(root):
        return Source("saved", root)
    if _has_metadata(root):
        return Source("imagefolder", root)
    tables = sorted(p for p in root.iterdir() if p.is_file() and p.suffix in TABLE_FORMATS)
    if len(tables) == 1:
        return _classify(tables[0])
    if not tables:
        raise ConfigError(
            f"{root}: no .csv, .tsv or .jsonl file, Hugging Face save_to_disk folder or imagefolder "
            "metadata found"
        )
    raise ConfigError(f"{root}: several caption files ({', '.join(p.name for p in tables)}); choose one with -o file=NAME")


def _is_saved(folder: Path) -> bool:
    return any((folder / marker).is_file() for marker in SAVED_MARKERS)


def _has_metadata(folder: Path) -> bool:
    return any(next(folder.rglob(name), None) is not None for name in IMAGEFOLDER_METADATA)


def _classify(path: Path) -> Source:
    if path.is_dir():
        if _is_saved(path):
            return Source("saved", path)
        if _has_metadata(path):
            return Source("imagefolder", path)
        raise ConfigError(f"{path}: folder is neither a save_to_disk dataset nor an imagefolder with metadata")
    if path.suffix not in TABLE_FORMATS:
        raise ConfigError(f"{path}: unknown caption file type {path.suffix!r} (expected .csv, .tsv or .jsonl)")
    return Source("jsonl" if path.suffix == ".jsonl" else "csv", path)


def read_rows(source: Source, keys: Keys, separator: str | None) -> list[Row]:
    """Every row of ``source``."""
    if source.kind == "csv":
        return list(_read_csv(source.path, keys, separator or TABLE_FORMATS[source.path.suffix]))
    if source.kind == "jsonl":
        return list(_read_jsonl(source.path, keys))
    with _offline_and_quiet():
        return list(_read_hf(source, keys))


# ============================================================================================
# CSV / TSV
# ============================================================================================


def _read_csv(path: Path, keys: Keys, separator: str) -> Iterator[Row]:
    if len(separator) != 1:
        raise ConfigError(f"captions: separator must be one character, got {separator!r}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:  # -sig: Excel's byte-order mark is dropped
            reader = csv.DictReader(handle, delimiter=separator)
            columns = list(reader.fieldnames or [])
            present = _check_columns(str(path), columns, keys, "column")
            for record in reader:
                where = f"{path}:{reader.line_num}"
                if None in record or None in record.values():
                    raise ConfigError(f"{where}: the row has {'more' if None in record else 'fewer'} fields "
                                      f"than the header's {len(columns)}")
                yield _row(where, record, keys, present, path.parent, "column")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc.reason}") from None
    except csv.Error as exc:
        raise ConfigError(f"{path}: malformed CSV: {exc}") from None


# ============================================================================================
# JSONL
# ============================================================================================


def _read_jsonl(path: Path, keys: Keys) -> Iterator[Row]:
    records: list[tuple[str, Mapping[str, Any]]] = []
    for number, line in read_lines(path):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: invalid JSON: {exc.msg}") from None
        except RecursionError:
            raise ConfigError(f"{where}: JSON nested too deeply") from None
        if not isinstance(record, dict):
            raise ConfigError(f"{where}: is a JSON {type(record).__name__}, expected an object")
        records.append((where, record))
    if not records:
        raise ConfigError(f"{path}: no records")
    # An optional field is used when the first record has it; then every record must.
    first_where, first = records[0]
    present = _check_columns(first_where, list(first), keys, "field")
    for where, record in records:
        missing = [k for k in (keys.image, keys.caption, *present) if k not in record]
        if missing:
            raise ConfigError(f"{where}: no field {missing[0]!r} (fields: {', '.join(record) or 'none'})")
        yield _row(where, record, keys, present, path.parent, "field")


# ============================================================================================
# Hugging Face datasets
# ============================================================================================


@contextlib.contextmanager
def _offline_and_quiet() -> Iterator[None]:
    """``datasets`` with no network at all, and no progress bars for a metadata-sized load.

    Loading a packaged builder (``imagefolder``) makes ``datasets`` send a download-count
    request unless it is offline; its config flags are restored afterwards.
    """
    import datasets
    from datasets import utils

    saved = (datasets.config.HF_HUB_OFFLINE, datasets.config.HF_UPDATE_DOWNLOAD_COUNTS)
    bars_were_off = utils.are_progress_bars_disabled()
    datasets.config.HF_HUB_OFFLINE, datasets.config.HF_UPDATE_DOWNLOAD_COUNTS = True, False
    utils.disable_progress_bars()
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, datasets.config.HF_UPDATE_DOWNLOAD_COUNTS = saved
        if not bars_were_off:
            utils.enable_progress_bars()


def load_hf(source: Source) -> dict[str, Any]:
    """The ``datasets.Dataset`` parts of ``source`` by split name, loaded with ``datasets`` itself.

    Call it inside :func:`_offline_and_quiet`.
    """
    import datasets

    try:
        if source.kind == "saved":
            loaded = datasets.load_from_disk(str(source.path), keep_in_memory=False)
        else:
            # The builder's Arrow copy goes to a throw-away folder: image columns hold paths,
            # so the copy is metadata-sized and kept in memory.
            with tempfile.TemporaryDirectory(prefix="itr-bench-imagefolder-") as cache:
                loaded = datasets.load_dataset(
                    "imagefolder", data_dir=str(source.path), cache_dir=cache, keep_in_memory=True
                )
    except Exception as exc:  # datasets raises many types (ValueError, FileNotFoundError, its own)
        message = " ".join(str(_root_cause(exc)).split()) or type(exc).__name__
        raise ConfigError(f"{source.path}: cannot load it as a Hugging Face {source.kind} dataset: {message}") from None
    if isinstance(loaded, datasets.Dataset):
        return {"train": loaded}
    return dict(loaded)


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception of a chain: ``datasets`` wraps the useful message ("Invalid metadata
    file_name '../x.jpg': ...") in "An error occurred while generating the dataset"."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        exc = inner
    return exc


def _read_hf(source: Source, keys: Keys) -> Iterator[Row]:
    try:
        yield from _read_hf_rows(source, keys)
    except UnicodeDecodeError as exc:  # Arrow hands its strings over unchecked
        raise ConfigError(f"{source.path}: a text column holds bytes that are not valid UTF-8 "
                          f"({exc.reason} at byte {exc.start} of {exc.object[:40]!r})") from None


def _read_hf_rows(source: Source, keys: Keys) -> Iterator[Row]:
    import datasets

    parts = load_hf(source)
    named_splits = len(parts) > 1
    for part_name, part in parts.items():
        present = _check_columns(f"{source.path} ({part_name})", list(part.column_names), keys, "column")
        feature = part.features[keys.image]
        if isinstance(feature, datasets.Image):
            part = part.cast_column(keys.image, datasets.Image(decode=False))
        elif not (isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string")):
            raise ConfigError(f"{source.path}: column {keys.image!r} holds {feature!r}, expected images or paths")
        columns = [keys.image, keys.caption, *present]
        for index, record in enumerate(part.select_columns(columns)):
            where = f"{source.path} ({part_name} row {index})"
            if named_splits and keys.split not in present:
                record = {**record, keys.split: part_name}
                row_present = (*present, keys.split)
            else:
                row_present = present
            yield _row(where, record, keys, row_present, source.path, "column")


# ============================================================================================
# Shared
# ============================================================================================


def _check_columns(where: str, columns: Sequence[str], keys: Keys, what: str) -> tuple[str, ...]:
    """The optional columns present; a missing required one names the columns that exist."""
    for key, option in ((keys.image, "image_key"), (keys.caption, "caption_key"),
                        *((getattr(keys, o.removesuffix("_key")), o) for o in sorted(keys.required))):
        if key not in columns:
            raise ConfigError(
                f"{where}: no {what} {key!r} (set {option}=...; the {what}s are: {', '.join(columns) or 'none'})"
            )
    return tuple(k for k in (keys.split, keys.instance) if k in columns)


def _row(where: str, record: Mapping[str, Any], keys: Keys, present: Sequence[str], base: Path, what: str) -> Row:
    image, image_key = _image(where, record[keys.image], keys.image, base, what)
    captions = _captions(where, record[keys.caption], keys.caption, what)
    split = _text(where, record[keys.split], keys.split, what) if keys.split in present else None
    instance = _text(where, record[keys.instance], keys.instance, what) if keys.instance in present else None
    return Row(where, image, image_key, captions, split, instance)


def _image(where: str, value: Any, key: str, base: Path, what: str) -> tuple[Path | bytes, str]:
    if isinstance(value, Mapping):  # a Hugging Face image column: {"bytes": ..., "path": ...}
        data, path = value.get("bytes"), value.get("path")
        if data:
            return bytes(data), path or where
        value = path
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: empty image path in {what} {key!r}")
    written = value.strip()
    return base / written, os.path.normpath(written)


def _captions(where: str, value: Any, key: str, what: str) -> tuple[str, ...]:
    values = value if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise ConfigError(f"{where}: no caption in {what} {key!r} (an empty list)")
    captions = []
    for caption in values:
        if not isinstance(caption, str):
            raise ConfigError(f"{where}: caption in {what} {key!r} is {type(caption).__name__}, expected text")
        if not caption.strip():
            raise ConfigError(f"{where}: empty caption in {what} {key!r}")
        captions.append(caption.strip())
    return tuple(captions)


def _text(where: str, value: Any, key: str, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise ConfigError(f"{where}: empty or invalid value {value!r} in {what} {key!r}")
    return str(value).strip()
