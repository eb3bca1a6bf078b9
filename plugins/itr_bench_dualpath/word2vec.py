"""Word-embedding initialisation: word2vec trained on the training captions, or a user's file.

The paper initialised ``fc2`` from the raw GoogleNews vectors (``read_word2vec.m``: no sqrt,
no normalisation), so vectors are copied as they are. Words missing from the vectors keep the
layer's random init; :class:`Coverage` says how many words and tokens the vectors covered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from itr_bench.api import TextSpec
from itr_bench.data.text import Vocabulary, split_words
from itr_bench.errors import ItrBenchError

if TYPE_CHECKING:  # gensim is imported when vectors are trained or read
    from gensim.models import KeyedVectors

log = logging.getLogger(__name__)

#: File suffixes of the original word2vec C formats (GoogleNews is ``.bin.gz``) -> binary?
#: Only these are read: they hold words and numbers and cannot carry code. gensim's own
#: ``KeyedVectors.save`` files are pickles (loading one can run any code), so they are refused.
WORD2VEC_FORMATS: dict[str, bool] = {
    ".bin": True,
    ".bin.gz": True,
    ".txt": False,
    ".txt.gz": False,
    ".vec": False,
    ".vec.gz": False,
}


#: Mean cosine between two words' vectors at or above which the vectors are reported as nearly
#: parallel. word2vec trained on a small templated corpus ends there. Measured with this module
#: (300-d, 5 epochs, min_count 1, seeds 0 and 1): on the embedded synthetic data's 3,000 training
#: captions (41 words, every colour and shape word in the same contexts) the mean is 1.00, while
#: on Flickr8k's 30,000 training captions (7,930 words) it is 0.58. Such vectors carry no word
#: identity: the text path starts with every word alike.
PARALLEL_COSINE = 0.9


@dataclass(frozen=True)
class Coverage:
    """How much of a vocabulary a set of word vectors covers."""

    words_covered: int
    words: int
    tokens_covered: int
    tokens: int
    #: mean cosine similarity between the vectors of two different covered words (None: fewer
    #: than two). Near 1 the vectors are all but parallel and start every word alike.
    mean_cosine: float | None = None

    @property
    def word_fraction(self) -> float:
        return self.words_covered / self.words if self.words else 0.0

    @property
    def token_fraction(self) -> float:
        return self.tokens_covered / self.tokens if self.tokens else 0.0

    def __str__(self) -> str:
        return (
            f"word vectors cover {self.words_covered}/{self.words} vocabulary words ({self.word_fraction:.1%}) "
            f"and {self.tokens_covered}/{self.tokens} training tokens ({self.token_fraction:.1%})"
            + ("" if self.mean_cosine is None else f"; mean cosine between two words' vectors {self.mean_cosine:.2f}")
        )

    @property
    def parallel(self) -> bool:
        """True when the vectors are nearly parallel (mean cosine >= :data:`PARALLEL_COSINE`)."""
        return self.mean_cosine is not None and self.mean_cosine >= PARALLEL_COSINE


def train_word2vec(
    captions: Iterable[str],
    spec: TextSpec,
    *,
    dim: int = 300,
    epochs: int = 5,
    min_count: int = 5,
    seed: int = 0,
    workers: int = 1,
) -> KeyedVectors:
    """gensim word2vec on captions cut by the dataset's rules (pass the training split only).

    ``workers=1`` with a fixed ``seed`` makes the vectors reproducible; words seen fewer than
    ``min_count`` times get no vector (gensim's default 5), so they start random.
    """
    from gensim.models import Word2Vec

    sentences = [words for words in (split_words(c, spec) for c in captions) if words]
    if not sentences:
        raise ItrBenchError("word2vec: no training captions to learn word vectors from")
    model = Word2Vec(
        sentences, vector_size=dim, min_count=min_count, epochs=epochs, seed=seed, workers=workers
    )
    return model.wv


def load_word_vectors(path: str | Path, *, limit: int | None = None) -> KeyedVectors:
    """Read a word2vec C-format file: ``.bin[.gz]`` (binary), ``.txt[.gz]`` or ``.vec[.gz]`` (text).

    Any other name is refused before the file is opened: a gensim ``KeyedVectors.save`` file
    is a pickle, and unpickling a file from a config runs whatever code it carries. (Convert
    one with ``KeyedVectors.load(p).save_word2vec_format("vectors.bin", binary=True)``.)
    ``limit`` reads only the first (most frequent) words, e.g. to keep the 3M-word GoogleNews
    file in memory budget.
    """
    path = Path(path)
    binary = next((b for suffix, b in WORD2VEC_FORMATS.items() if path.name.lower().endswith(suffix)), None)
    if binary is None:
        raise ItrBenchError(
            f"{path}: word vectors are read only from word2vec files ({', '.join(WORD2VEC_FORMATS)}); "
            "other formats (gensim .kv/.model pickles) can carry code and are refused"
        )
    if not path.is_file():
        raise ItrBenchError(f"{path}: word vector file does not exist")
    check_header(path, binary)
    from gensim.models import KeyedVectors

    try:
        return KeyedVectors.load_word2vec_format(str(path), binary=binary, limit=limit)
    except Exception as exc:  # gensim raises many types (ValueError, UnpicklingError, EOFError, ...)
        message = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise ItrBenchError(f"{path}: cannot read word vectors: {message}") from exc


#: The most a deflate stream expands (zlib's documented limit), bounding a ``.gz`` file's content.
DEFLATE_MAX_RATIO = 1032


def check_header(path: Path, binary: bool) -> None:
    """The header ``<words> <dimensions>`` fits the file, checked before gensim allocates
    ``words x dimensions`` floats: a 2 kB file claiming 10^9 words would take gigabytes.

    Each word takes at least its dimensions' bytes (4 per float in binary, a digit and a space in
    text) plus a one-letter word and a separator; a ``.gz`` file holds at most
    :data:`DEFLATE_MAX_RATIO` times its size.
    """
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            first = handle.readline(256)
    except (OSError, EOFError) as exc:
        raise ItrBenchError(f"{path}: cannot read word vectors: {exc}") from None
    parts = first.split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ItrBenchError(f"{path}: cannot read word vectors: the first line of a word2vec file is '<words> <dimensions>', "
                            f"got {first[:60]!r}")
    words, dims = int(parts[0]), int(parts[1])
    if words < 1 or dims < 1:
        raise ItrBenchError(f"{path}: cannot read word vectors: header claims {words} words of {dims} dimensions; "
                            "both must be at least 1")
    size = path.stat().st_size * (DEFLATE_MAX_RATIO if opener is not open else 1)
    least = words * ((4 if binary else 2) * dims + 2)
    if least > size:
        raise ItrBenchError(f"{path}: cannot read word vectors: header claims {words} words of {dims} dimensions, "
                            f"at least {least} bytes, "
                            f"but the file can hold at most {size}: it is damaged or not a word2vec file")


def coverage(vocabulary: Vocabulary, vectors: KeyedVectors) -> Coverage:
    """Words of ``vocabulary`` with a vector, and the training tokens they account for."""
    counts = vocabulary.counts or (1,) * len(vocabulary.words)
    hits = [word in vectors.key_to_index for word in vocabulary.words]
    covered = [word for word, hit in zip(vocabulary.words, hits) if hit]
    return Coverage(
        words_covered=sum(hits),
        words=len(vocabulary.words),
        tokens_covered=sum(c for c, hit in zip(counts, hits) if hit),
        tokens=sum(counts),
        mean_cosine=mean_cosine(np.asarray(vectors[covered], dtype=np.float64)) if len(covered) > 1 else None,
    )


def mean_cosine(rows: np.ndarray) -> float:
    """Mean cosine similarity over the pairs of different rows, in O(n d): ``(|sum u|^2 - n) / (n (n - 1))``
    for the unit rows ``u`` (a zero row counts as orthogonal to every other)."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    units = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
    n = len(units)
    total = float(np.square(units.sum(axis=0)).sum()) - float(np.square(units).sum())
    return total / (n * (n - 1))


def initialise_embedding(table: Tensor, vocabulary: Vocabulary, vectors: KeyedVectors) -> Coverage:
    """Copy the vector of every covered word into its row of ``table`` (``(len(vocabulary), dim)``)."""
    if vectors.vector_size != table.shape[1]:
        raise ItrBenchError(
            f"word vectors have {vectors.vector_size} dimensions but the word embedding has {table.shape[1]}; "
            "set word_dim to match"
        )
    rows = [i for i, word in enumerate(vocabulary.words, start=1) if word in vectors.key_to_index]
    keys = [vocabulary.words[i - 1] for i in rows]
    if rows:
        values = torch.from_numpy(np.asarray(vectors[keys], dtype=np.float32))
        with torch.no_grad():
            table[torch.tensor(rows)] = values.to(table.dtype)
    found = coverage(vocabulary, vectors)
    log.info("%s", found)
    if found.parallel:
        log.warning("word vectors are nearly parallel (mean cosine %.2f between two words' vectors): they start "
                    "every word alike, as word2vec does on a small templated corpus; word2vec = \"none\" starts "
                    "the words random instead", found.mean_cosine)
    return found


def restrict_to_vectors(vocabulary: Vocabulary, vectors: KeyedVectors) -> Vocabulary:
    """The official dictionary (``make_dictionary.m``): training words that have a vector; others are dropped."""
    kept = [
        (w, c)
        for w, c in zip(vocabulary.words, vocabulary.counts or (0,) * len(vocabulary.words))
        if w in vectors.key_to_index
    ]
    return Vocabulary(tuple(w for w, _ in kept), tuple(c for _, c in kept))
