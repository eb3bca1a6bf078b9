"""Word-level text handling: the paper's tokenisation and a training-split vocabulary.

Following the official code (``prepare_wordcnn_feature2.m``): split on the dataset's separator
characters, match words exactly (case-sensitive unless the dataset says otherwise), drop words
that are not in the vocabulary (there is no UNK token) and keep at most ``max_words`` words.
The vocabulary is built from the training captions only, never from val or test.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import torch
from torch import Tensor

from ..api import TextSpec

#: Token id 0 is padding; real words start at 1.
PAD_ID = 0


def split_words(caption: str, spec: TextSpec) -> list[str]:
    """Cut a caption into words by the dataset's rules (no truncation, no vocabulary)."""
    if spec.lowercase:
        caption = caption.lower()
    return [w for w in _splitter(spec.separators).split(caption) if w]


@functools.lru_cache(maxsize=32)
def _splitter(separators: str) -> re.Pattern[str]:
    chars = "".join(re.escape(c) for c in separators) + r"\s"
    return re.compile(f"[{chars}]+")


@dataclass(frozen=True)
class Vocabulary:
    """Words of the training captions, most frequent first; id = position + 1."""

    words: tuple[str, ...]
    counts: tuple[int, ...] = field(default=(), compare=False)

    @classmethod
    def build(cls, captions: Iterable[str], spec: TextSpec, min_count: int = 1) -> "Vocabulary":
        """Count words over ``captions`` (pass the training split only) and keep frequent ones."""
        counter = Counter(w for caption in captions for w in split_words(caption, spec))
        kept = sorted(((w, c) for w, c in counter.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0]))
        return cls(tuple(w for w, _ in kept), tuple(c for _, c in kept))

    @cached_property
    def index(self) -> dict[str, int]:
        return {w: i + 1 for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        """Number of ids including padding (the embedding table's size)."""
        return len(self.words) + 1

    def __contains__(self, word: str) -> bool:
        return word in self.index


class WordTokenizer:
    """Captions -> ``(B, max_length)`` LongTensor of word ids, left-aligned, 0-padded."""

    def __init__(self, vocabulary: Vocabulary, spec: TextSpec) -> None:
        self.vocabulary = vocabulary
        self.spec = spec
        self.max_length = spec.max_words

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def encode(self, caption: str) -> list[int]:
        """Ids of the known words of one caption, truncated to ``max_length`` kept words."""
        index = self.vocabulary.index
        ids = [index[w] for w in split_words(caption, self.spec) if w in index]
        return ids[: self.max_length]

    def __call__(self, captions: Sequence[str]) -> Tensor:
        out = torch.full((len(captions), self.max_length), PAD_ID, dtype=torch.long)
        for row, caption in enumerate(captions):
            ids = self.encode(caption)
            if ids:
                out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out


def random_shift(ids: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """The paper's text augmentation: move each left-aligned sentence to a random start slot.

    ``ids`` is ``(B, L)`` with the words first and padding after; each row's words are placed
    at a start position drawn uniformly among those where the whole sentence still fits.
    """
    batch, length = ids.shape
    lengths = (ids != PAD_ID).sum(dim=1)
    starts = (torch.rand(batch, generator=generator, device=ids.device) * (length - lengths + 1).float()).long()
    positions = torch.arange(length, device=ids.device).unsqueeze(0) - starts.unsqueeze(1)  # source index per slot
    valid = (positions >= 0) & (positions < lengths.unsqueeze(1))
    gathered = ids.gather(1, positions.clamp(0, length - 1))
    return torch.where(valid, gathered, torch.full_like(ids, PAD_ID))
