"""What the engine sends trackers, unit by unit: loss parameters (SigLIP's scale and bias, InfoNCE's
temperature), the ranking loss's share of active hinges, learning rates, the gradient norm, and
the config flattened to hyper-parameters."""

import pytest
import torch

from itr_bench.api import LossContext
from itr_bench.engine.tracking import flatten, grad_norm, learning_rates, loss_scalars


def test_every_scalar_parameter_of_a_loss_is_sent(registry):
    losses = {"siglip": registry.create("loss", "siglip", LossContext(embed_dim=4), bias=-10.0),
              "infonce": registry.create("loss", "infonce", LossContext(embed_dim=4))}
    values = loss_scalars(losses)
    assert values["train/param/siglip.logit_bias"] == -10.0
    assert values["train/param/siglip.logit_scale"] == pytest.approx(losses["siglip"].logit_scale.item())
    assert values["train/param/infonce.logit_scale"] == pytest.approx(losses["infonce"].logit_scale.item())


@pytest.mark.parametrize("form", ["vsepp-sum", "vsepp-max"])
def test_the_ranking_loss_reports_its_share_of_active_hinges(registry, form):
    loss = registry.create("loss", "ranking", LossContext(embed_dim=4), form=form, margin=0.2)
    assert loss_scalars({"ranking": loss}) == {}  # nothing before the first batch
    eye = torch.eye(4)
    loss(eye, eye, torch.arange(4))  # every match beats every negative by 1 > margin
    assert loss_scalars({"ranking": loss}) == {"train/ranking.active_hinges_i2t": 0.0,
                                               "train/ranking.active_hinges_t2i": 0.0}
    loss(eye, eye.flip(0), torch.arange(4))  # each caption matches another image best
    values = loss_scalars({"ranking": loss})
    assert 0 < values["train/ranking.active_hinges_i2t"] <= 1 and 0 < values["train/ranking.active_hinges_t2i"] <= 1


def test_learning_rates_per_group_and_the_gradient_norm():
    weights, bias = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([{"params": [weights], "lr": 0.1, "name": "image.trunk"},
                                 {"params": [bias], "lr": 0.01, "name": "text"}])
    assert grad_norm(optimizer) is None
    (weights.sum() * 2 + bias.sum()).backward()
    assert learning_rates(optimizer) == {"train/lr/image.trunk": 0.1, "train/lr/text": 0.01}
    assert grad_norm(optimizer) == pytest.approx((3 * 2.0 ** 2 + 1.0) ** 0.5)


def test_the_config_is_flattened_to_dotted_scalars():
    config = {"seed": 0, "stages": [{"lr": 0.1, "losses": {"ranking": 1.0}}], "root": None, "tta": True}
    assert flatten(config) == {"seed": 0, "stages.0.lr": 0.1, "stages.0.losses.ranking": 1.0, "root": "None",
                               "tta": True}
