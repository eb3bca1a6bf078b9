"""Word-embedding initialisation: user vector files, gensim training, coverage (real Flickr30k captions)."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from itr_bench_dualpath.word2vec import coverage, load_word_vectors, train_word2vec

from itr_bench.api import EncoderContext, TextSpec
from itr_bench.data.text import Vocabulary, split_words
from itr_bench.errors import ItrBenchError

SMALL = {"width": 0.125, "blocks": (1, 1, 1, 1)}


def write_vectors(path: Path, vectors: dict[str, list[float]]) -> Path:
    """A word2vec text-format file, as the C tool (and GoogleNews tooling) writes it."""
    dim = len(next(iter(vectors.values())))
    lines = [f"{len(vectors)} {dim}"] + [w + " " + " ".join(map(str, v)) for w, v in vectors.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_vector_file_rows_are_copied_raw_and_missing_words_stay_random(registry, tmp_path):
    captions = ["a dog runs", "a dog sits", "the cat sleeps"]
    vectors = {"dog": [3.0, -4.0, 0.5, 0.0], "a": [0.1, 0.2, 0.3, 0.4], "zebra": [9.0, 9.0, 9.0, 9.0]}
    path = write_vectors(tmp_path / "vectors.txt", vectors)
    encoder = registry.create(
        "text_encoder",
        "dualpath-textcnn",
        EncoderContext(train_captions=captions),
        word2vec=str(path),
        word_dim=4,
        **SMALL,
    )
    table = encoder.body.embedding.table.weight
    index = encoder.tokenizer.vocabulary.index
    assert torch.equal(table[index["dog"]], torch.tensor(vectors["dog"]))  # no normalisation
    assert torch.allclose(table[index["a"]], torch.tensor(vectors["a"]))
    assert table[index["cat"]].abs().sum() > 0 and not torch.equal(
        table[index["cat"]], table[index["sleeps"]]
    )
    assert torch.equal(table[0], torch.zeros(4))
    # Vocabulary: a(2) dog(2) cat runs sits sleeps the -> 2 of 7 words, 4 of 9 tokens.
    cov = encoder.coverage
    assert (cov.words_covered, cov.words, cov.tokens_covered, cov.tokens) == (2, 7, 4, 9)
    assert cov.word_fraction == pytest.approx(2 / 7) and "2/7" in str(cov)


def test_official_dictionary_keeps_only_words_with_vectors(registry, tmp_path):
    path = write_vectors(tmp_path / "vectors.txt", {"dog": [1.0, 2.0], "a": [0.0, 1.0]})
    encoder = registry.create(
        "text_encoder",
        "dualpath-textcnn",
        EncoderContext(train_captions=["a dog runs", "a cat"]),
        word2vec=str(path),
        word_dim=2,
        vocabulary="vectors",
        **SMALL,
    )
    assert encoder.tokenizer.vocabulary.words == ("a", "dog")
    assert encoder.tokenizer(["a black dog runs"]).tolist()[0][:3] == [1, 2, 0]  # unknown words dropped
    assert encoder.coverage.word_fraction == 1.0


def test_word2vec_binary_and_text_files_load_and_gensim_pickles_are_refused(tmp_path):
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=3)
    kv.add_vectors(["man", "bike"], np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32))
    kv.save_word2vec_format(str(tmp_path / "v.bin"), binary=True)
    kv.save_word2vec_format(str(tmp_path / "v.txt.gz"), binary=False)
    kv.save_word2vec_format(str(tmp_path / "v.VEC"), binary=False)
    for name in ("v.bin", "v.txt.gz", "v.VEC"):
        loaded = load_word_vectors(tmp_path / name)
        assert loaded.index_to_key == ["man", "bike"] and np.allclose(loaded["bike"], [4, 5, 6])
    kv.save(str(tmp_path / "v.kv"))  # a pickle: never read, whatever it holds
    with pytest.raises(ItrBenchError, match=r"v\.kv: word vectors are read only from word2vec files"):
        load_word_vectors(tmp_path / "v.kv")


def test_bad_vector_files_are_one_line_user_errors(registry, tmp_path):
    missing = tmp_path / "GoogleNews-vectors-negative300.bin.gz"
    with pytest.raises(
        ItrBenchError, match="GoogleNews-vectors-negative300.bin.gz: word vector file does not exist"
    ):
        load_word_vectors(missing)
    broken = tmp_path / "broken.bin"
    broken.write_bytes(b"not a word2vec file")
    with pytest.raises(ItrBenchError, match="broken.bin: cannot read word vectors") as info:
        load_word_vectors(broken)
    assert "\n" not in str(info.value)
    path = write_vectors(tmp_path / "v.txt", {"dog": [1.0, 2.0]})
    with pytest.raises(ItrBenchError, match="2 dimensions but the word embedding has 300"):
        registry.create(
            "text_encoder",
            "dualpath-textcnn",
            EncoderContext(train_captions=["a dog"]),
            word2vec=str(path),
            **SMALL,
        )


def test_default_trains_word2vec_on_the_training_captions(registry, captions):
    encoder = registry.create(
        "text_encoder",
        "dualpath-textcnn",
        EncoderContext(train_captions=captions),
        word2vec_epochs=1,
        word2vec_min_count=3,
        **SMALL,
    )
    counts = Counter(w for c in captions for w in split_words(c, TextSpec()))
    assert encoder.coverage.words_covered == sum(1 for n in counts.values() if n >= 3)
    assert encoder.coverage.tokens == sum(counts.values())


def flickr30k_train_captions(root: Path, limit: int | None = None) -> list[str]:
    folder = root / "flickr30k-captions"
    train = set((folder / "train.txt").read_text().split())
    captions = []
    with gzip.open(folder / "flickr30k_captions.token.gz", "rt", encoding="utf-8") as lines:
        for line in lines:
            key, caption = line.rstrip("\n").split("\t", 1)
            if key.split(".")[0] in train:
                captions.append(caption)
                if limit is not None and len(captions) == limit:
                    break
    return captions


def test_word2vec_coverage_on_real_flickr30k_captions(shared_datasets):
    captions = flickr30k_train_captions(shared_datasets, limit=4000)
    spec = TextSpec()
    vocabulary = Vocabulary.build(captions, spec)
    vectors = train_word2vec(captions, spec, dim=50, epochs=1, min_count=5)
    cov = coverage(vocabulary, vectors)
    frequent = [w for w, n in zip(vocabulary.words, vocabulary.counts) if n >= 5]
    assert cov.words == len(vocabulary.words) > 2000
    assert cov.words_covered == len(frequent)
    assert cov.tokens_covered == sum(n for n in vocabulary.counts if n >= 5)
    # Rare words are many but their tokens few: Zipf's law on real captions.
    assert cov.word_fraction < 0.5
    assert cov.token_fraction > 0.9
    assert vectors.most_similar("man", topn=50)  # vectors were actually trained


def test_mean_cosine_matches_the_pairwise_loop():
    from itr_bench_dualpath.word2vec import mean_cosine

    rows = np.random.default_rng(0).normal(size=(9, 5))
    rows[3] = 0.0  # a zero vector is orthogonal to everything
    units = [r / np.linalg.norm(r) if np.linalg.norm(r) else r for r in rows]
    pairs = [float(units[i] @ units[j]) for i in range(9) for j in range(9) if i != j]
    assert mean_cosine(rows) == pytest.approx(sum(pairs) / len(pairs))
    assert mean_cosine(np.tile([1.0, 2.0, 0.0], (4, 1)) * np.arange(1, 5)[:, None]) == pytest.approx(1.0)


def test_parallel_word_vectors_are_recorded_and_reported(registry, tmp_path, caplog):
    captions = ["a red disc", "a blue disc", "a red box", "a blue box"]
    encoder_of = lambda vectors: registry.create(  # noqa: E731
        "text_encoder", "dualpath-textcnn", EncoderContext(train_captions=captions),
        word2vec=str(write_vectors(tmp_path / "v.txt", vectors)), word_dim=3, **SMALL)
    with caplog.at_level("WARNING"):
        parallel = encoder_of({w: [1.0 + 0.01 * i, 2.0, 3.0] for i, w in enumerate(["a", "red", "blue", "disc", "box"])})
    assert parallel.coverage.parallel and parallel.coverage.mean_cosine > 0.99
    assert parallel.provenance()["word_vectors"]["coverage"]["mean_cosine"] > 0.99
    assert "nearly parallel" in caplog.text and "mean cosine" in str(parallel.coverage)
    caplog.clear()
    with caplog.at_level("WARNING"):
        spread = encoder_of({"a": [1.0, 0.0, 0.0], "red": [0.0, 1.0, 0.0], "blue": [0.0, 0.0, 1.0],
                             "disc": [-1.0, 0.0, 0.0], "box": [0.0, -1.0, 0.0]})
    assert not spread.coverage.parallel and "nearly parallel" not in caplog.text


def test_word2vec_on_the_embedded_synthetic_captions_is_parallel_and_on_real_captions_is_not(shared_datasets):
    """Why the quickstart starts its words random: the templated captions give word2vec nothing to tell words apart."""
    from itr_bench_datasets.synthetic import Synthetic

    synthetic = [c for s in Synthetic(train=600, val=150, test=150, image_size=16).splits()["train"].samples
                 for c in s.captions]
    real = flickr30k_train_captions(shared_datasets, limit=4000)
    for captions, parallel in ((synthetic, True), (real, False)):
        spec = Synthetic.text if parallel else TextSpec()
        vectors = train_word2vec(captions, spec, dim=300, epochs=5, min_count=1, seed=0)
        assert coverage(Vocabulary.build(captions, spec), vectors).parallel is parallel
