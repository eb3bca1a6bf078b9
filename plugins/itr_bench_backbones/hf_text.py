"""Any transformers text model (hub name in the local cache, or a folder) as a text encoder.

Everything loads with ``local_files_only=True``: a benchmark run never downloads. The model's
own tokenizer is wrapped to the :class:`itr_bench.api.Tokenizer` protocol (fixed-length id
tensors, so prepared caches can stack them); the attention mask is ``ids != pad id``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from annotated_types import Ge
from torch import Tensor, nn

from itr_bench.api import EncoderContext, TextEncoder
from itr_bench.errors import ItrBenchError

from .projection import projection

if TYPE_CHECKING:  # transformers is imported when a model is built, not with the plugin
    from transformers import PreTrainedTokenizerBase


def mean_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """Average of the non-padding token states."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)


def cls_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """The first token's state ([CLS] for BERT-style models)."""
    return hidden[:, 0]


POOLINGS: Mapping[str, Callable[[Tensor, Tensor], Tensor]] = {"mean": mean_pool, "cls": cls_pool}


def trim_trailing_padding(ids: Tensor, pad_id: int) -> Tensor:
    """Drop the columns after the batch's longest caption.

    Ids are padded to ``max_length`` so that caches can stack them, but a transformer's cost grows
    with the sequence length: Flickr captions average about 15 tokens against a default
    ``max_length`` of 64. Masked trailing positions change no other token's state, so the pooled
    output is the same. Only trailing columns are dropped: with left padding nothing is trimmed,
    because trimming leading columns would shift the position ids.
    """
    used = (ids != pad_id).any(0).nonzero()
    length = int(used.max()) + 1 if len(used) else 1
    return ids[:, :length]


class HFTokenizer:
    """A transformers tokenizer as a :class:`~itr_bench.api.Tokenizer`: captions -> ``(B, max_length)`` ids."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, max_length: int) -> None:
        if tokenizer.pad_token_id is None:
            raise ItrBenchError(f"tokenizer {tokenizer.name_or_path!r} has no padding token")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.pad_id: int = tokenizer.pad_token_id

    def __call__(self, captions: Sequence[str]) -> Tensor:
        encoded = self.tokenizer(
            list(captions),
            padding="max_length",
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return encoded["input_ids"]


class HFTextEncoder(TextEncoder):
    """A transformers encoder with CLS or mean pooling, projected to the common size if needed."""

    def __init__(
        self, model: nn.Module, tokenizer: HFTokenizer, pooling: str = "mean", embed_dim: int | None = None
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ItrBenchError(f"hf-text: pooling must be one of {sorted(POOLINGS)}, got {pooling!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.projection, self.output_dim = projection(model.config.hidden_size, embed_dim)

    def forward(self, ids: Tensor) -> Tensor:
        ids = trim_trailing_padding(ids, self.tokenizer.pad_id)
        mask = ids != self.tokenizer.pad_id
        hidden = self.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        return self.projection(POOLINGS[self.pooling](hidden, mask))

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        embedding_ids = {id(p) for p in self.model.get_input_embeddings().parameters()}
        model_params = list(self.model.parameters())
        return {
            "text.embedding": [p for p in model_params if id(p) in embedding_ids],
            "text.body": [p for p in model_params if id(p) not in embedding_ids],
            "text.head": list(self.projection.parameters()),
        }


def sentence_transformers_pooling(folder: Path) -> str | None:
    """The pooling a sentence-transformers folder declares (``1_Pooling/config.json``), if any."""
    config = folder / "1_Pooling" / "config.json"
    if not config.is_file():
        return None
    modes = json.loads(config.read_text())
    table = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}
    return next((pooling for key, pooling in table.items() if modes.get(key)), None)


def load_hf_text_encoder(
    model: str | Path,
    context: EncoderContext,
    *,
    pretrained: bool = True,
    pooling: str | None = None,
    max_length: int = 64,
    owner: str = "hf-text",
) -> HFTextEncoder:
    """Load a model and its tokenizer from local files only (a folder or the local HF cache)."""
    if pooling is not None and pooling not in POOLINGS:
        raise ItrBenchError(f"{owner}: pooling must be one of {sorted(POOLINGS)}, got {pooling!r}")
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    source = str(model)
    try:
        # safetensors weights only (a pytorch_model.bin is a pickle) and no code from the folder
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True, trust_remote_code=False)
        if pretrained:
            module = AutoModel.from_pretrained(source, local_files_only=True, use_safetensors=True,
                                               trust_remote_code=False)
        else:
            module = AutoModel.from_config(AutoConfig.from_pretrained(source, local_files_only=True,
                                                                      trust_remote_code=False))
    except (OSError, ValueError) as exc:
        raise ItrBenchError(
            f"{owner}: cannot load transformers model {source!r} from local files (nothing is downloaded): "
            + " ".join(str(exc).split())[:300]
        ) from exc
    folder = Path(source)
    pooling = pooling or (sentence_transformers_pooling(folder) if folder.is_dir() else None) or "mean"
    limit = getattr(module.config, "max_position_embeddings", max_length)
    return HFTextEncoder(module, HFTokenizer(tokenizer, min(max_length, limit)), pooling, context.embed_dim)


def hf_text_encoder(
    context: EncoderContext,
    *,
    model: str,
    pretrained: bool = True,
    pooling: Literal["cls", "mean"] | None = None,
    max_length: Annotated[int, Ge(1)] = 64,
) -> HFTextEncoder:
    """Any transformers text model by hub name (already in the local cache) or local folder.

    Args:
        model: a hub name already in the local cache, or a local folder.
        pretrained: load the model's weights (False: the architecture with random weights).
        pooling: 'cls' or 'mean' (default: the model's own, else mean).
        max_length: longest token sequence; longer captions are cut.
    """
    return load_hf_text_encoder(model, context, pretrained=pretrained, pooling=pooling, max_length=max_length)
