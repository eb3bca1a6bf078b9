"""The prepared cache: each split resized once and stored as an Arrow file (HF ``datasets``).

Decoding full-size JPEGs every epoch is what starves a GPU; the cache holds each image once,
shorter side resized to ``image_size`` and re-encoded as JPEG, plus its captions (strings:
tokenisation belongs to the text encoder, whose vocabulary is built from train only) and ids.
A cache lives in ``cache_dir/<key>/`` where the key covers the dataset's fingerprint (its
sources and options) and the settings, so anything that changes rebuilds it. It is built in a
temporary folder and renamed into place, so a crashed build never leaves a half-written cache
behind (its hidden temporary is removed by the next build of that entry); concurrent processes
take a lock per entry, so one builds it and the others wait and reuse it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import datasets
import pyarrow
from datasets.arrow_writer import ArrowWriter
from tqdm.auto import tqdm

from ..api import Dataset, Protocol, Split, TextSpec
from ..config import IMAGE_SIZE
from ..errors import ConfigError, ItrBenchError
from ..store.atomic import remove_temporaries
from ..store.files import ensure_inside, read_json_file
from ..store.locking import CACHE_WAIT, FolderLock
from .checks import check_folds
from .identity import data_fingerprint
from .images import encode_jpeg, open_image, resize_shorter_side

#: Bump when the cache layout or the image processing changes.
FORMAT_VERSION = 2  # 2: images upright (EXIF), high bit depths scaled, alpha over white
META_FILE = "meta.json"
FEATURES = datasets.Features(
    {
        "image": datasets.Value("binary"),
        "captions": datasets.Sequence(datasets.Value("string")),
        "instance_id": datasets.Value("int64"),
        "image_id": datasets.Value("string"),
    }
)
#: Images processed per thread-pool round (bounds memory; PIL releases the GIL while it works).
CHUNK = 256


@dataclass(frozen=True)
class PreparedSplit:
    name: str
    #: Columns ``image`` (JPEG bytes), ``captions``, ``instance_id``, ``image_id``; memory-mapped.
    table: datasets.Dataset
    protocol: Protocol
    folds: int

    def __len__(self) -> int:
        return len(self.table)


@dataclass(frozen=True)
class PreparedDataset:
    path: Path
    image_size: int
    fingerprint: str
    text: TextSpec
    hints: Mapping[str, Any]
    splits: Mapping[str, PreparedSplit]

    def split(self, name: str) -> PreparedSplit:
        if name not in self.splits:
            raise ConfigError(
                f"{self.path}: prepared dataset has no split {name!r} (has {', '.join(self.splits)})"
            )
        return self.splits[name]


def cache_key(dataset: Dataset, image_size: int, quality: int) -> str:
    """Folder name of the cache: readable prefix + hash of everything that shapes its content
    (the data identity of :mod:`itr_bench.data.identity`: changed images rebuild it)."""
    fingerprint = dataset.fingerprint()
    settings = {
        "format": FORMAT_VERSION,
        "fingerprint": data_fingerprint(dataset),
        "image_size": image_size,
        "quality": quality,
    }
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", fingerprint)[:48]
    return f"{prefix}-{image_size}px-{digest}"


def prepare(
    dataset: Dataset,
    cache_dir: Path | str,
    image_size: int = 224,
    *,
    quality: int = 90,
    workers: int | None = None,
    progress: bool = True,
) -> PreparedDataset:
    """The prepared cache of ``dataset``, built on the first call and reused afterwards."""
    problem = IMAGE_SIZE.problem(image_size)
    if problem:
        raise ConfigError(f"image size {problem} pixels")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = ensure_inside(cache_dir, cache_dir / cache_key(dataset, image_size, quality))
    if (target / META_FILE).is_file():
        return load_prepared(target)
    with FolderLock(target, wait=CACHE_WAIT):  # parallel workers: one builds, the others wait and reuse it
        if not (target / META_FILE).is_file():
            remove_temporaries(cache_dir, only=target.name)  # a build killed half-way
            _build_into(target, dataset, image_size, quality, workers or os.cpu_count() or 1, progress)
    return load_prepared(target)


def _build_into(target: Path, dataset: Dataset, image_size: int, quality: int, workers: int, progress: bool) -> None:
    """Build in a hidden temporary folder renamed into place; a full disk names the cache entry."""
    try:
        building = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(target.parent)) from None
    try:
        _build(dataset, building, image_size, quality, workers, progress)
        try:
            building.rename(target)
        except OSError:
            if not (target / META_FILE).is_file():  # not a rival build that won (another host, no flock)
                raise
    except OSError as exc:
        if exc.filename is None or str(exc.filename).startswith(str(building)):
            # the temporary's name means nothing to the user, and Arrow's writes name no file at all
            raise OSError(exc.errno, exc.strerror or " ".join(str(exc).split()), str(target)) from None
        raise
    finally:
        shutil.rmtree(building, ignore_errors=True)


def load_prepared(path: Path | str) -> PreparedDataset:
    """Open a cache folder written by :func:`prepare`; a damaged one is one line saying what to delete."""
    path = Path(path)
    meta_file = path / META_FILE
    if not meta_file.is_file():
        raise ConfigError(f"{meta_file}: not a prepared dataset (no {META_FILE})")
    meta = read_json_file(meta_file)
    if meta.get("format") != FORMAT_VERSION:
        raise ConfigError(
            f"{meta_file}: cache format {meta.get('format')}, expected {FORMAT_VERSION}; delete it to rebuild"
        )
    try:
        splits = {name: _open_split(path, name, info) for name, info in meta["splits"].items()}
        return PreparedDataset(
            path, meta["image_size"], meta["fingerprint"], TextSpec(**meta["text"]), meta["hints"], splits
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ItrBenchError(f"{meta_file}: damaged prepared cache ({type(exc).__name__}: {exc}); "
                            f"delete {path} to rebuild it") from None


def _open_split(path: Path, name: str, info: Mapping[str, Any]) -> PreparedSplit:
    """One split's Arrow file (Arrow IPC: columns of plain values, nothing that can carry code)."""
    arrow = path / f"{name}.arrow"
    try:
        table = datasets.Dataset.from_file(str(arrow))
    except (OSError, ValueError, pyarrow.ArrowException) as exc:  # ArrowInvalid is a ValueError
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ItrBenchError(f"{arrow}: damaged prepared cache ({first}); delete {path} to rebuild it") from None
    return PreparedSplit(name, table, Protocol(info["protocol"]), info["folds"])


def _build(
    dataset: Dataset, folder: Path, image_size: int, quality: int, workers: int, progress: bool
) -> None:
    splits = dataset.splits()
    check_folds(splits, dataset.fingerprint())
    total = sum(len(split.samples) for split in splits.values())
    bar = tqdm(total=total, desc=f"prepare {dataset.fingerprint()}", unit="img", disable=not progress)
    with bar, ThreadPoolExecutor(max_workers=workers) as pool:
        for name, split in splits.items():
            rows = _rows(split, pool, image_size, quality)
            _write_arrow(folder / f"{name}.arrow", rows, bar)
    meta = {
        "format": FORMAT_VERSION,
        "fingerprint": data_fingerprint(dataset),
        "image_size": image_size,
        "quality": quality,
        "text": asdict(dataset.text),
        "hints": dict(dataset.hints),
        "splits": {
            name: {"protocol": s.protocol.value, "folds": s.folds, "images": len(s.samples)}
            for name, s in splits.items()
        },
    }
    (folder / META_FILE).write_text(json.dumps(meta, indent=2, default=str))


def _rows(split: Split, pool: ThreadPoolExecutor, image_size: int, quality: int) -> Iterator[dict[str, Any]]:
    samples = list(split.samples)
    for start in range(0, len(samples), CHUNK):
        chunk = samples[start : start + CHUNK]
        images = pool.map(
            lambda s: encode_jpeg(resize_shorter_side(open_image(s), image_size), quality), chunk
        )
        for sample, image in zip(chunk, images):
            yield {
                "image": image,
                "captions": list(sample.captions),
                "instance_id": sample.instance_id,
                "image_id": sample.image_id,
            }


def _write_arrow(path: Path, rows: Iterable[dict[str, Any]], bar: tqdm) -> None:
    with ArrowWriter(features=FEATURES, path=str(path)) as writer:
        for row in rows:
            writer.write(row)
            bar.update()
        writer.finalize()
