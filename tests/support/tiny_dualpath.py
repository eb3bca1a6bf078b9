"""A one-epoch run of the built-in dual-path encoders, shrunk to seconds on a CPU (test support:
the per-query results and the report train it through the real ``itr-bench train``)."""

from __future__ import annotations

from pathlib import Path

RUN = """
[run]
name = "{name}"
dataset = "synthetic"
dataset_options = {{ train = 32, val = 16, test = {test}, image_size = 16 }}
image_encoder = "dualpath-image"
image_options = {{ backbone = "resnet18", width = 0.0625 }}
text_encoder = "dualpath-textcnn"
text_options = {{ width = 0.0625, blocks = [1, 1, 1, 1], word2vec = "train", word2vec_min_count = 1 }}
image_size = 16
batch_size = 16
device = "cpu"
cache_dir = "{cache}"

[[stages]]
epochs = 1
lr = 0.05
losses = {{ {loss} = 1.0 }}
"""


def write_run_config(path: Path, cache: Path, *, name: str = "run", loss: str = "infonce", test: int = 16) -> Path:
    """Write the run's TOML to ``path`` (its prepared data cached under ``cache``) and return ``path``."""
    path.write_text(RUN.format(name=name, loss=loss, test=test, cache=cache))
    return path
