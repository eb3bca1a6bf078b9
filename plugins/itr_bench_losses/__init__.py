"""Built-in plugin: the instance loss and ranking losses of the paper, the common peer losses,
and the negative samplers of the paper's ranking loss.

One module per loss; each class's docstring gives its reference, its defaults and how it behaves
under data parallelism.
"""

from __future__ import annotations

import itr_bench

from .cmpc import CmpcLoss
from .cmpm import CmpmLoss
from .infonce import InfoNCELoss
from .instance import InstanceLoss
from .negatives import NEGATIVE_SAMPLERS, HardestNegatives, RandomNegatives
from .ranking import CandidatePool, hardest_candidates, hardest_captions, ranking
from .siglip import SigLipLoss
from .triplet import TripletLoss

__all__ = [
    "CandidatePool",
    "CmpcLoss",
    "CmpmLoss",
    "HardestNegatives",
    "InfoNCELoss",
    "InstanceLoss",
    "RandomNegatives",
    "SigLipLoss",
    "TripletLoss",
    "hardest_candidates",
    "hardest_captions",
    "ranking",
]


#: (name, factory, one-line description) of every loss this plugin registers.
LOSSES = (
    (
        "instance",
        InstanceLoss,
        "The paper's instance loss: softmax over instances, W_share shared by both paths",
    ),
    (
        "ranking",
        ranking,
        "Bidirectional hinge on cosine: the paper's (default), VSE++ sum or hardest negative",
    ),
    ("infonce", InfoNCELoss, "CLIP's symmetric InfoNCE with a learnable temperature"),
    ("siglip", SigLipLoss, "SigLIP's pairwise sigmoid loss with a learnable scale and bias"),
    ("cmpm", CmpmLoss, "Cross-modal projection matching, L1 (original) or L2 (PyTorch ports) targets"),
    ("cmpc", CmpcLoss, "Cross-modal projection classification with a norm-softmax classifier"),
    (
        "triplet",
        TripletLoss,
        "Cross-modal triplet margin loss on cosine similarity (pytorch-metric-learning)",
    ),
)


@itr_bench.hookimpl
def register_losses(register):
    for name, factory, description in LOSSES:
        register(name, factory, description=description)


@itr_bench.hookimpl
def register_negative_samplers(register):
    for name, factory, description in NEGATIVE_SAMPLERS:
        register(name, factory, description=description)
