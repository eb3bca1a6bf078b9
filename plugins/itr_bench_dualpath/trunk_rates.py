"""The image trunk's parameter groups by MatConvNet parameter kind, and the paper's Stage II rates.

The official Stage II builders (``coco_word2_Rankloss.m``, and the Flickr / CUHK-PEDES ones,
repo layumi/Image-Text-Embedding) set, on the ImageNet ResNet-50 they fine-tune::

    for i = 1:213                      % the image CNN
        if mod(i,2)==0  net.params(i).learningRate = 0.02;
        else            net.params(i).learningRate = 0.001;  end
        net.params(i).weightDecay = 1;
    end
    net.params(1).learningRate = 0.0001;

**Which PyTorch parameter each index is.** The trunk is MatConvNet's ``imagenet-resnet-50-dag``
with ``fc1000`` removed; its ``net.params`` keep the order the layers were imported in, each
layer contributing its parameters in a fixed order:

- a convolution: its filters (``<conv>_filter``); ``conv1`` alone also has a bias
  (``conv1_bias``, Caffe's default ``bias_term``; every other ResNet conv is bias-free);
- a batch norm: three parameters, ``_mult`` (scale, gamma), ``_bias`` (shift, beta) and
  ``_moments`` (running mean and std).

ResNet-50 has 53 convolutions, each followed by a batch norm: 53 filters + 1 conv1 bias +
53 x 3 BN parameters = 213, exactly the loop's range (the Stage I builders loop over
``1:numel(net.params)`` right after removing ``fc1000``, the same 213). So the indices are
``1 conv1_filter, 2 conv1_bias, 3 bn_conv1_mult, 4 bn_conv1_bias, 5 bn_conv1_moments``, then
for every further conv + BN pair four parameters starting at an even index: filter (even),
mult (odd), bias (even), moments (odd). Whatever order the pairs come in, the parity of each
kind is the same. Hence, mapped onto timm's ResNet-50 (whose ``conv1`` has no bias):

============================  ==========================  =============================
MatConvNet parameter          PyTorch parameter           Stage II multiplier
============================  ==========================  =============================
1 ``conv1_filter``            ``conv1.weight``            1e-4 (the override)
2 ``conv1_bias``              (none in timm)              (0.02)
even: other conv filters      every other conv ``weight`` 0.02   -> ``image.trunk.filters``
odd: BN ``_mult``             BN ``weight`` (gamma)       0.001  -> ``image.trunk.bn_scale``
even: BN ``_bias``            BN ``bias`` (beta)          0.02   -> ``image.trunk.bn_shift``
odd: BN ``_moments``          BN running mean / var       0.001  (see below)
============================  ==========================  =============================

BN moments are not trained by gradient: MatConvNet's ``cnn_train_dag.m`` updates a parameter
with ``trainMethod = 'average'`` as ``(1 - lr) * moments + lr * batch_moments``, with ``lr``
its own learningRate (not times the global rate). A learningRate of 0.001 is a running-average
momentum of 0.001, which the encoders' ``trunk_bn_momentum`` option sets (the Stage I value
0 is the frozen statistics the engine already applies to frozen groups).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # registration reads the rates below without importing torch
    from torch import nn

#: The paper's Stage II learning-rate multipliers for the image trunk, by group (see above).
PAPER_TRUNK_LR_MULT: Mapping[str, float] = MappingProxyType({
    "image.trunk.conv1": 1e-4,
    "image.trunk.filters": 0.02,
    "image.trunk.bn_shift": 0.02,
    "image.trunk.bn_scale": 0.001,
})
#: The paper's Stage II running-average rate of the trunk's BN moments (learningRate 0.001).
PAPER_TRUNK_BN_MOMENTUM = 0.001


def trunk_groups(trunk: nn.Module, prefix: str = "image.trunk") -> dict[str, list[nn.Parameter]]:
    """The trunk's parameters by MatConvNet kind: ``conv1`` (the stem's first convolution's
    filters), ``filters`` (every other convolution's), ``bn_scale``, ``bn_shift``, and ``other``
    (anything else, e.g. conv biases; empty for timm's ResNets). Every parameter is in one group.
    """
    from torch import nn

    groups: dict[str, list[nn.Parameter]] = {name: [] for name in ("conv1", "filters", "bn_scale", "bn_shift", "other")}
    placed: set[int] = set()
    first_conv = True
    for module in trunk.modules():
        if isinstance(module, nn.Conv2d):
            groups["conv1" if first_conv else "filters"].append(module.weight)
            placed.add(id(module.weight))
            first_conv = False
        elif isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
            groups["bn_scale"].append(module.weight)
            groups["bn_shift"].append(module.bias)
            placed.update((id(module.weight), id(module.bias)))
    groups["other"] = [p for p in trunk.parameters() if id(p) not in placed]
    return {f"{prefix}.{name}": params for name, params in groups.items() if params}


def set_bn_momentum(trunk: nn.Module, momentum: float) -> None:
    """Running-statistics momentum of every BN layer in ``trunk`` (PyTorch's convention: the
    weight of the new batch statistics, MatConvNet's moments learningRate)."""
    from torch import nn

    for module in trunk.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = momentum
