"""Built-in plugin: the instance loss and ranking losses of the paper, the common peer losses,
and the negative samplers of the paper's ranking loss.

One module per loss; each class's docstring gives its reference, its defaults and how it behaves
under data parallelism.
"""

from __future__ import annotations

import importlib

import itr_bench
from itr_bench import lazy

#: Importable from the package, as before; each is imported from its module on first access
#: (PEP 562), so registering the losses imports no torch.
_EXPORTS = {
    "CandidatePool": "ranking",
    "CmpcLoss": "cmpc",
    "CmpmLoss": "cmpm",
    "HardestNegatives": "negatives",
    "InfoNCELoss": "infonce",
    "InstanceLoss": "instance",
    "RandomNegatives": "negatives",
    "SigLipLoss": "siglip",
    "TripletLoss": "triplet",
    "hardest_candidates": "ranking",
    "hardest_captions": "ranking",
    "ranking": "ranking",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


#: (name, factory, one-line description) of every loss this plugin registers.
LOSSES = (
    (
        "instance",
        lazy(".instance:InstanceLoss", __name__),
        "The paper's instance loss: softmax over instances, W_share shared by both paths",
    ),
    (
        "ranking",
        lazy(".ranking:ranking", __name__),
        "Bidirectional hinge on cosine: the paper's (default), VSE++ sum or hardest negative",
    ),
    ("infonce", lazy(".infonce:InfoNCELoss", __name__), "CLIP's symmetric InfoNCE with a learnable temperature"),
    ("siglip", lazy(".siglip:SigLipLoss", __name__), "SigLIP's pairwise sigmoid loss with a learnable scale and bias"),
    ("cmpm", lazy(".cmpm:CmpmLoss", __name__),
     "Cross-modal projection matching, L1 (original) or L2 (PyTorch ports) targets"),
    ("cmpc", lazy(".cmpc:CmpcLoss", __name__), "Cross-modal projection classification with a norm-softmax classifier"),
    (
        "triplet",
        lazy(".triplet:TripletLoss", __name__),
        "Cross-modal triplet margin loss on cosine similarity (pytorch-metric-learning)",
    ),
)

#: The batch layout of a loss whose option picks its class, declared at registration so that
#: ``--dry-run`` knows which runs need a negative sampler without importing torch (a class that
#: states ``layout`` itself needs no entry). The build checks it against the built loss.
LAYOUTS = {
    "ranking": {"form": {"paper": "anchors-then-negatives", "vsepp-sum": "pairs", "vsepp-max": "pairs"}},
}

#: (name, factory, one-line description) of every negative sampler (see negatives.py).
NEGATIVE_SAMPLERS = (
    ("hardest", lazy(".negatives:HardestNegatives", __name__),
     "The paper's Flickr/COCO negatives: hardest of 256 captions outside the batch, scored in eval mode"),
    ("random", lazy(".negatives:RandomNegatives", __name__),
     "A random training pair of another instance (the paper's CUHK-PEDES rand_diff_class)"),
)


@itr_bench.hookimpl
def register_losses(register):
    for name, factory, description in LOSSES:
        register(name, factory, description=description, **({"layout": LAYOUTS[name]} if name in LAYOUTS else {}))


@itr_bench.hookimpl
def register_negative_samplers(register):
    for name, factory, description in NEGATIVE_SAMPLERS:
        register(name, factory, description=description)
