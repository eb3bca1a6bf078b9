"""Per-query test results: written by every scored run and by ``evaluate``, read back checked."""

import json

import numpy as np
import pytest
import torch
from tiny_dualpath import write_run_config
from tiny_models import tiny_config

from itr_bench.cli import main
from itr_bench.engine.run import train_run
from itr_bench.errors import ItrBenchError
from itr_bench.metrics.declarations import Ranks
from itr_bench.metrics.ranks import TopRanked
from itr_bench.store.per_query import PER_QUERY, query_results, read_query_results, write_query_results
from itr_bench.store.record import RECORD


def write_config(tmp_path):
    return write_run_config(tmp_path / "run.toml", tmp_path / "cache", name="per-query")


def _recall(rank, k):
    return 100.0 * np.mean(rank < k)


def test_a_run_keeps_every_querys_rank_and_top_ten(tmp_path, tiny_registry):
    record = train_run(tiny_config(tmp_path / "cache"), tiny_registry, tmp_path / "run", progress=False)
    results = read_query_results(tmp_path / "run")
    t2i, i2t = results.directions["t2i"], results.directions["i2t"]
    assert t2i.top.shape == (len(results.caption_image), 10) and i2t.top.shape == (24, 10)
    assert results.meta["split"] == "test" and results.protocol == "image-caption"
    for k in (1, 5, 10):  # the same ranks the record's metrics came from
        assert _recall(t2i.rank, k) == pytest.approx(record["test"][f"t2i_r{k}"])
        assert _recall(i2t.rank, k) == pytest.approx(record["test"][f"i2t_r{k}"])
    for name, direction in results.directions.items():
        for query, (rank, top) in enumerate(zip(direction.rank, direction.top)):
            marks = results.correct(name, query, top)
            assert (marks.argmax() if marks.any() else None) == (rank if rank < 10 else None)


def test_identity_runs_keep_text_to_image_with_the_persons_as_matches(tmp_path, tiny_registry):
    config = tiny_config(tmp_path / "cache", dataset="synthetic-identity", sampler="identity",
                         samples_per_identity=4,
                         dataset_options={"train": 16, "val": 6, "test": 6, "image_size": 16},
                         stages=[{"epochs": 1, "losses": {"instance": 1.0}}])
    record = train_run(config, tiny_registry, tmp_path / "run", progress=False)
    results = read_query_results(tmp_path / "run" / PER_QUERY)
    assert set(results.directions) == {"t2i"} and results.protocol == "identity"
    t2i = results.directions["t2i"]
    assert _recall(t2i.rank, 1) == pytest.approx(record["test"]["t2i_r1"])
    assert len(set(results.image_label.tolist())) < len(results.image_label)  # several images per person
    for query, (rank, top) in enumerate(zip(t2i.rank, t2i.top)):
        marks = results.correct("t2i", query, top)
        assert marks.argmax() == rank if rank < 10 else not marks.any()
    # a person's other images count: some caption's first match is not its own image
    own = results.caption_image
    assert any(top[rank] != own[q] for q, (rank, top) in enumerate(zip(t2i.rank, t2i.top)) if rank < 10)


def test_evaluate_rewrites_a_deleted_file_identically(tmp_path, capsys):
    assert main(["train", str(write_config(tmp_path)), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    path = tmp_path / "run" / PER_QUERY
    before = read_query_results(path)
    path.unlink()
    with pytest.raises(ItrBenchError, match=r"per_query.npz: no per-query results.*itr-bench evaluate"):
        read_query_results(tmp_path / "run")
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "run")]) == 0
    assert "wrote per-query results" in capsys.readouterr().err
    after = read_query_results(path)
    assert after.meta == before.meta
    for name in before.directions:
        assert np.array_equal(after.directions[name].rank, before.directions[name].rank)
        assert np.array_equal(after.directions[name].top, before.directions[name].top)
    # scoring something else (another size of the dataset) leaves the run's file alone
    path.unlink()
    assert main(["evaluate", str(tmp_path / "run"), "-o", "test=8"]) == 0
    assert not path.exists()
    assert json.loads((tmp_path / "run" / RECORD).read_text())["test"]


def _small_results(n_images=6, per_image=2):
    caption_image = torch.arange(n_images).repeat_interleave(per_image)
    top = torch.arange(10).remainder(n_images).repeat(len(caption_image), 1)
    ranks = Ranks("image-caption", t2i=torch.zeros(len(caption_image), dtype=torch.long),
                  i2t=torch.ones(n_images, dtype=torch.long),
                  t2i_top=TopRanked(top, top == 0, torch.ones(len(caption_image))),
                  i2t_top=TopRanked(top[:n_images] * per_image, top[:n_images] == 0, torch.ones(n_images)))
    return query_results(ranks, caption_image, torch.arange(n_images), {"split": "test", "folds": 1,
                                                                         "split_digest": "x"})


@pytest.mark.parametrize("damage", ["truncate", "garbage", "shape", "range", "pickle"])
def test_damaged_files_are_one_line_naming_them(tmp_path, damage):
    path = tmp_path / PER_QUERY
    write_query_results(path, _small_results())
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "garbage":
        path.write_bytes(b"not an archive")
    else:
        arrays = dict(np.load(path))
        if damage == "shape":
            arrays["t2i_top"] = arrays["t2i_top"][:3]
        elif damage == "range":
            arrays["i2t_rank"][0] = 99
        else:
            arrays["caption_image"] = np.array([object()], dtype=object)
        with open(path, "wb") as handle:
            np.savez(handle, **arrays)
    with pytest.raises(ItrBenchError, match=rf"^{path}: damaged per-query results: .*itr-bench evaluate") as info:
        read_query_results(path)
    assert "\n" not in str(info.value)


def test_size_is_48_bytes_per_caption_and_per_image(tmp_path):
    sizes = []
    for n_images in (50, 100):
        write_query_results(tmp_path / PER_QUERY, _small_results(n_images=n_images, per_image=5))
        sizes.append((tmp_path / PER_QUERY).stat().st_size)
    # what docs/report.md states (the meta's counts gain a digit: a few bytes more)
    assert 0 <= sizes[1] - sizes[0] - 48 * (250 + 50) < 16
    assert sizes[0] - 48 * 300 < 4000
