"""A word-vector header is checked against the file size before anything is allocated (issue 30, case 9)."""

from __future__ import annotations

import gzip
import resource

import pytest
from itr_bench_dualpath.word2vec import load_word_vectors

from itr_bench.errors import ItrBenchError


def small_file(path, header: bytes):
    data = header + b"\n" + b"dog " + b"\x00" * 4 * 300 + b"\n"
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


@pytest.mark.parametrize("name, header, expected", [
    ("huge.bin", b"1000000000 300", ("header claims 1000000000 words of 300 dimensions, at least 1202000000000 bytes, "
                                     "but the file can hold at most 1220")),
    ("huge2.bin", b"2000000000 300", "header claims 2000000000 words of 300 dimensions"),
    ("huge.txt", b"1000000000 300", "header claims 1000000000 words of 300 dimensions, at least 602000000000 bytes"),
    ("huge.bin.gz", b"1000000000 300", "header claims 1000000000 words of 300 dimensions"),
    ("zero.bin", b"0 300", "header claims 0 words of 300 dimensions; both must be at least 1"),
    ("words.bin", b"many words", "the first line of a word2vec file is '<words> <dimensions>', got b'many words"),
])
def test_a_header_the_file_cannot_hold_is_one_line_before_any_allocation(tmp_path, name, header, expected):
    path = small_file(tmp_path / name, header)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ItrBenchError) as info:
        load_word_vectors(path)
    assert str(info.value).startswith(f"{path}: cannot read word vectors: ") and expected in str(info.value)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB: nothing near 8.5 GB


def test_an_honest_header_still_loads(tmp_path):
    vectors = load_word_vectors(small_file(tmp_path / "one.bin", b"1 300"))
    assert vectors.vector_size == 300 and "dog" in vectors.key_to_index
