"""Per-query test results of a run: what each query retrieved, kept beside its record.

When a run is scored on its test split (at the end of training, or by ``itr-bench evaluate``)
every query's 0-based rank of its first correct match and its top-10 retrieved items are written
to ``per_query.npz`` in the run folder (plain NumPy arrays, no pickle), taken from the
similarity matrix the evaluation already built. :func:`read_query_results` reads it back, and
``itr-bench report`` lines several runs up on the same queries from these files.

Arrays, ``int32``: ``t2i_rank`` ``(M,)`` and ``t2i_top`` ``(M, 10)`` for every caption (text to
image); ``i2t_rank`` ``(N,)`` and ``i2t_top`` ``(N, 10)`` for every image (image-caption protocol
only); ``caption_image`` ``(M,)`` each caption's image; ``image_label`` ``(N,)`` what makes an
image a correct match (its own index under the image-caption protocol, its ``instance_id`` under
the identity protocol, where a caption's matches are every image of its person). ``meta`` is a
JSON string: format, protocol, split name, folds, counts and a digest of the split's image ids
and captions (two runs share a test split exactly when their digests agree). For a split scored
in folds (COCO 1K) the per-query results rank each query against the whole split.

Size: 48 bytes per caption and per image, plus about 2.3 kB of headers: COCO 5K (25,010 captions,
5,000 images) takes 1,442,810 bytes (1.4 MB; docs/report.md has the command that measured it).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ItrBenchError
from .atomic import write_bytes

#: The per-query results' file in a run folder.
PER_QUERY = "per_query.npz"
FORMAT = 1
#: Retrieved items kept per query.
TOP = 10
DIRECTIONS = ("t2i", "i2t")


@dataclass(frozen=True)
class Direction:
    """One direction's queries: ``rank`` ``(Q,)`` 0-based rank of the first correct match and
    ``top`` ``(Q, 10)`` the retrieved gallery indices, best first (images for ``t2i``, captions
    for ``i2t``)."""

    rank: np.ndarray
    top: np.ndarray


@dataclass(frozen=True)
class QueryResults:
    """A run's per-query test results (see the module's docstring for every field)."""

    meta: Mapping[str, Any]
    caption_image: np.ndarray
    image_label: np.ndarray
    directions: Mapping[str, Direction]

    @property
    def protocol(self) -> str:
        return self.meta["protocol"]

    def correct(self, direction: str, query: int, items: np.ndarray) -> np.ndarray:
        """Whether each of ``items`` (gallery indices) is a correct match for ``query``."""
        if direction == "t2i":
            return self.image_label[items] == self.image_label[self.caption_image[query]]
        return self.image_label[self.caption_image[items]] == self.image_label[query]


def split_digest(image_ids: Iterable[Any], captions: Iterable[Iterable[str]]) -> str:
    """A short hash of a split's image ids and captions, in order: equal exactly when the splits are."""
    text = json.dumps([[str(i) for i in image_ids], [list(c) for c in captions]], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def query_results(ranks: Any, caption_image: Any, image_label: Any, meta: Mapping[str, Any]) -> QueryResults:
    """:class:`QueryResults` from a scored split's :class:`~itr_bench.metrics.declarations.Ranks`
    (tensors with their top lists), its captions' images and its images' labels."""
    directions = {}
    for name in DIRECTIONS:
        rank, top = getattr(ranks, name), getattr(ranks, f"{name}_top")
        if rank is not None and top is not None:
            directions[name] = Direction(_int32(rank), _int32(top.top[:, :TOP]))
    full_meta = {"format": FORMAT, "protocol": ranks.protocol, **meta,
                 "images": len(image_label), "captions": len(caption_image)}
    return QueryResults(full_meta, _int32(caption_image), _int32(image_label), directions)


def _int32(values: Any) -> np.ndarray:
    array = values.cpu().numpy() if hasattr(values, "cpu") else np.asarray(values)
    return array.astype(np.int32)


def write_query_results(path: Path | str, results: QueryResults) -> None:
    """Write ``results`` to ``path`` atomically (a reader sees the old file or the new one)."""
    arrays = {"meta": np.array(json.dumps(dict(results.meta), sort_keys=True)),
              "caption_image": results.caption_image, "image_label": results.image_label}
    for name, direction in results.directions.items():
        arrays[f"{name}_rank"], arrays[f"{name}_top"] = direction.rank, direction.top
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_bytes(path, buffer.getvalue())


def read_query_results(path: Path | str) -> QueryResults:
    """The per-query results of a run folder (or of a ``per_query.npz`` file), checked.

    A missing file says the run must be re-evaluated (``itr-bench evaluate RUN``); a damaged
    one (not an archive, missing arrays, wrong shapes, indices out of range) is one line naming it.
    """
    path = Path(path)
    if path.is_dir():
        path = path / PER_QUERY
    if not path.is_file():
        raise ItrBenchError(f"{path}: no per-query results; runs scored before they were kept need "
                            f"'itr-bench evaluate {path.parent}' to write them")
    try:
        with path.open("rb") as handle:
            if handle.read(4) != b"PK\x03\x04":  # np.load would try the other formats, pickle included
                raise ValueError("not a NumPy .npz archive")
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        return _checked(arrays)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError) as exc:
        raise ItrBenchError(f"{path}: damaged per-query results: {' '.join(str(exc).split()) or type(exc).__name__}; "
                            f"rewrite it with 'itr-bench evaluate {path.parent}'") from None


def _checked(arrays: Mapping[str, np.ndarray]) -> QueryResults:
    meta = json.loads(str(arrays["meta"]))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"unknown format {meta.get('format') if isinstance(meta, dict) else meta!r}")
    caption_image, image_label = _vector(arrays, "caption_image"), _vector(arrays, "image_label")
    n_images, n_captions = len(image_label), len(caption_image)
    if (meta.get("images"), meta.get("captions")) != (n_images, n_captions):
        raise ValueError("meta counts do not match the arrays")
    _in_range(caption_image, n_images, "caption_image")
    expected = {"t2i": (n_captions, n_images), "i2t": (n_images, n_captions)}
    directions = {}
    for name in DIRECTIONS:
        if f"{name}_rank" not in arrays:
            continue
        queries, gallery = expected[name]
        rank, top = _vector(arrays, f"{name}_rank"), arrays[f"{name}_top"]
        if rank.shape != (queries,) or top.ndim != 2 or top.shape[0] != queries or top.dtype.kind != "i":
            raise ValueError(f"{name}_rank/{name}_top: shapes {rank.shape}/{top.shape} do not fit {queries} queries")
        _in_range(rank, gallery, f"{name}_rank")
        _in_range(top, gallery, f"{name}_top")
        directions[name] = Direction(rank, top)
    if "t2i" not in directions:
        raise ValueError("no text-to-image results")
    return QueryResults(meta, caption_image, image_label, directions)


def _vector(arrays: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    value = arrays[name]
    if value.ndim != 1 or value.dtype.kind != "i":
        raise ValueError(f"{name}: expected a vector of integers, got {value.dtype} of shape {value.shape}")
    return value


def _in_range(values: np.ndarray, size: int, name: str) -> None:
    if values.size and (values.min() < 0 or values.max() >= size):
        raise ValueError(f"{name}: values outside 0..{size - 1}")
