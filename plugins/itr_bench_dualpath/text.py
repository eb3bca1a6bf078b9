"""The paper's text path as a :class:`~itr_bench.api.TextEncoder`: word tokenizer, text CNN, head."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import torch
from annotated_types import Ge, Gt, Lt
from torch import Tensor, nn

from itr_bench.api import EncoderContext, EncoderOutput, TextEncoder, TextSpec
from itr_bench.data.text import Vocabulary, WordTokenizer
from itr_bench.errors import ItrBenchError

from .head import PaperHead, resolve_dropout, scaled
from .text_rates import LR_MULTIPLIERS
from .textcnn import PAPER_BLOCKS, WORD_DIM, TextCNN
from .tta import random_shift, shift_sum
from .word2vec import Coverage, initialise_embedding, load_word_vectors, restrict_to_vectors, train_word2vec

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

OWNER = "text encoder 'dualpath-textcnn'"
#: Width of the paper's ``fc5_2`` layer.
HEAD_WIDTH = 2048
#: ``vocabulary`` option: every training word, or (the official ``make_dictionary.m``) only
#: training words that have a vector.
VOCABULARIES: Mapping[str, Callable[[Vocabulary, KeyedVectors], Vocabulary]] = {
    "captions": lambda words, vectors: words,
    "vectors": restrict_to_vectors,
}


class DualPathTextEncoder(TextEncoder):
    """Text path of the dual-path CNN: ids -> TextCNN -> fc5_2 -> BN (-> ReLU -> dropout)."""

    lr_multipliers: Mapping[str, float] = LR_MULTIPLIERS
    #: What :meth:`augment_ids` does, for run records: the paper's random sentence shift.
    text_augmentation = "shift"

    def __init__(
        self,
        tokenizer: WordTokenizer,
        body: TextCNN,
        head: PaperHead,
        coverage: Coverage | None = None,
        word_vectors: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.body = body
        self.head = head
        self.output_dim = head.out_dim
        #: How much of the vocabulary the initial word vectors covered (None: random init).
        self.coverage = coverage
        #: Where the initial word vectors came from (source, and the word2vec seed when trained).
        self.word_vectors = dict(word_vectors or {"source": None})

    def provenance(self) -> dict[str, Any]:
        """The initial word vectors' source and word2vec seed, and how much they covered."""
        coverage = None if self.coverage is None else {
            "words": f"{self.coverage.words_covered}/{self.coverage.words}",
            "tokens": f"{self.coverage.tokens_covered}/{self.coverage.tokens}",
            "mean_cosine": None if self.coverage.mean_cosine is None else round(self.coverage.mean_cosine, 4)}
        return {"word_vectors": {**self.word_vectors, "coverage": coverage}}

    def forward(self, ids: Tensor) -> EncoderOutput:
        return self.head(self.body(ids))

    def features_view(self) -> str:
        return self.head.features_view()

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return {
            "text.embedding": list(self.body.embedding.parameters()),
            "text.body": list(self.body.embedding_bn.parameters()) + list(self.body.stages.parameters()),
            "text.head": list(self.head.parameters()),
        }

    def augment_ids(self, ids: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The paper's training augmentation: each sentence at a random start among the L slots.

        ``test_time_embedding`` then sums over every start, i.e. over positions seen in training.
        """
        return random_shift(ids, generator)

    def test_time_embedding(self, ids: Tensor) -> Tensor:
        """The paper's test feature: embeddings summed over every start position of the sentence."""
        return shift_sum(lambda shifted: self(shifted).embedding, ids)


def dualpath_textcnn(
    context: EncoderContext,
    *,
    width: Annotated[float, Gt(0)] = 1.0,
    blocks: Sequence[Annotated[int, Ge(1)]] = PAPER_BLOCKS,
    word_dim: Annotated[int, Ge(1)] = WORD_DIM,
    dropout: Annotated[float, Ge(0), Lt(1)] | None = None,
    max_words: Annotated[int, Ge(1)] | None = None,
    word2vec: str | Path | None = "train",
    word2vec_epochs: Annotated[int, Ge(1)] = 5,
    word2vec_min_count: Annotated[int, Ge(0)] = 5,
    word2vec_limit: Annotated[int, Ge(1)] | None = None,
    vocabulary: Literal["captions", "vectors"] = "captions",
    seed: Annotated[int, Ge(0)] | None = None,
) -> DualPathTextEncoder:
    """The paper's deep text CNN; the vocabulary comes from the training captions only.

    ``word2vec``: ``"train"`` (gensim on the training captions), a word2vec C-format file
    (``.bin``/``.txt``/``.vec``, optionally ``.gz``; the paper used GoogleNews; formats that can
    carry code, such as gensim pickles, are refused), or None for random init.
    ``vocabulary="vectors"`` keeps only training words that have a vector, as the official
    dictionary did; the default keeps every training word and starts the missing ones random. ``width``/``blocks`` shrink the same
    architecture for CPU runs; ``max_words`` overrides the dataset's sentence length.
    ``seed`` seeds word2vec; by default the run seed (``context.seed``), so every seed of a
    suite trains its own word vectors and the same seed always the same ones.

    Args:
        width: scales every layer's channels (1.0: the paper's size).
        blocks: residual blocks per stage (the paper: 3, 4, 6, 1).
        word_dim: word-vector size (300 as word2vec).
        dropout: drop rate before the instance classifier (default: the dataset's hint, else 0.5).
        max_words: sentence length in words (default: the dataset's).
        word2vec: 'train' (gensim on the training captions), a word2vec C-format file, or none (random).
        word2vec_epochs: gensim epochs when word2vec='train'.
        word2vec_min_count: gensim's minimum word count when word2vec='train'.
        word2vec_limit: read at most this many vectors from a word2vec file.
        vocabulary: 'captions' (every training word) or 'vectors' (only words with a vector).
        seed: seed of word2vec training (default: the run seed).
    """
    if not context.train_captions:
        raise ItrBenchError(f"{OWNER} builds its vocabulary from the training captions, but none were given")
    rate = resolve_dropout(context, dropout, OWNER)
    spec = context.text if max_words is None else dataclasses.replace(context.text, max_words=max_words)
    words = Vocabulary.build(context.train_captions, spec)
    seed = context.seed if seed is None else seed
    vectors = _word_vectors(
        word2vec, context, spec, word_dim, word2vec_epochs, word2vec_min_count, word2vec_limit, seed
    )
    if vectors is not None:
        words = VOCABULARIES[vocabulary](words, vectors)
    try:
        body = TextCNN(len(words), word_dim=word_dim, width=width, blocks=blocks)
    except ValueError as exc:
        raise ItrBenchError(f"{OWNER}: {exc}") from exc
    coverage = (
        initialise_embedding(body.embedding.table.weight, words, vectors) if vectors is not None else None
    )
    head = PaperHead(body.out_dim, context.embed_dim or scaled(HEAD_WIDTH, width), dropout=rate)
    source = None if word2vec in (None, "none") else str(word2vec)
    word_vectors = {"source": source, **({"word2vec_seed": seed} if source == "train" else {})}
    return DualPathTextEncoder(WordTokenizer(words, spec), body, head, coverage, word_vectors)


def _word_vectors(
    source: str | Path | None,
    context: EncoderContext,
    spec: TextSpec,
    dim: int,
    epochs: int,
    min_count: int,
    limit: int | None,
    seed: int,
) -> KeyedVectors | None:
    """Vectors trained on the training captions (``"train"``), read from a file, or None."""
    if source is None or source == "none":
        return None
    if source == "train":
        return train_word2vec(
            context.train_captions, spec, dim=dim, epochs=epochs, min_count=min_count, seed=seed
        )
    return load_word_vectors(source, limit=limit)
