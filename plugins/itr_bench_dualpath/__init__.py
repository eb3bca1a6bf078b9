"""Built-in plugin: the instance-loss paper's dual-path CNN (Zheng et al., TOMM 2020).

Image path: a timm ResNet trunk + the paper's 2048-d head (``dualpath-image``, ``dualpath-resnet50``).
Text path: the deep text CNN over word2vec-initialised word embeddings (``dualpath-textcnn``).
Both return :class:`itr_bench.api.EncoderOutput`: the pre-ReLU BN output as the retrieval
embedding, its ReLU + dropout as the instance classifier's input. ``test_time_embedding`` on
each encoder gives the paper's test features (image flip + dense sum; sentence shifts).
"""

from __future__ import annotations

from pathlib import Path

from itr_bench_backbones.timm_weights import declare_timm_weights

import itr_bench
from itr_bench import lazy

from .text_rates import LR_MULTIPLIERS
from .trunk_rates import PAPER_TRUNK_LR_MULT

# The encoders' modules (torch, timm, gensim) are imported when an encoder is first built.
dualpath_image = lazy(".image:dualpath_image", __name__)
dualpath_resnet50 = lazy(".image:dualpath_resnet50", __name__)
dualpath_textcnn = lazy(".text:dualpath_textcnn", __name__)


@itr_bench.hookimpl
def register_image_encoders(register):
    register("dualpath-resnet50", dualpath_resnet50, lr_mult=dict(PAPER_TRUNK_LR_MULT),
             description="The paper's image path: ResNet-50 + fc1 (2048) + fc1_1 (2048), BN, ReLU, dropout.",
             weights=declare_timm_weights(model_option=None, default_model="resnet50", default_pretrained=False))
    register(
        "dualpath-image",
        dualpath_image,
        description="The paper's image path on any timm ResNet (option backbone=...)",
        weights=declare_timm_weights(model_option="backbone", default_model="resnet50", default_pretrained=False),
    )


@itr_bench.hookimpl
def register_text_encoders(register):
    register("dualpath-textcnn", dualpath_textcnn, lr_mult=dict(LR_MULTIPLIERS),
             description="The paper's deep text CNN; the vocabulary comes from the training captions only.")


SUITES = Path(__file__).parent / "suites"


@itr_bench.hookimpl
def register_suites(register):
    register("quickstart", lambda: SUITES / "quickstart.toml",
             description="The README's main job: the paper's ablation on synthetic data, each arm tuned on validation, 16 seeds, CPU-sized")
    register("paper-ablation", lambda: SUITES / "paper-ablation.toml",
             description="The paper's ablation with its model on Flickr8k, Flickr30k, MSCOCO, CUHK-PEDES")
    register("loss-shootout", lambda: SUITES / "loss-shootout.toml",
             description="Every registered loss alone, same backbone, budget and seeds")
    register("paper-recipe-smoke", lambda: SUITES / "paper-recipe-smoke.toml",
             description="Every piece of the paper's recipe on real Flickr8k, CPU-sized (a proof it runs, not a result)")
