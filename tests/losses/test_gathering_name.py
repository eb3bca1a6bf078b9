"""The data-parallel declaration is ``gathering`` (:class:`Gathering`); a plugin written against its
former name ``negatives`` (:class:`Negatives`) keeps working, with a DeprecationWarning."""

import warnings

import pytest
import torch

from itr_bench.api import Gathering, Inputs, Loss, Negatives
from itr_bench.loss_contract import gathering_of
from itr_bench.testing import check_loss


def _local_mean(image, text, instance_ids):
    return {"pull": (1 - (image * text).sum(dim=1)).mean()}


def test_the_former_names_still_declare_the_gathering():
    assert Negatives is Gathering
    with pytest.warns(DeprecationWarning, match="'negatives' is now 'gathering'"):
        class OldStyle(Loss):
            inputs = Inputs.NORMALIZED
            negatives = Negatives.LOCAL
            reduction = "mean"

            def __init__(self, context):
                super().__init__()

            def compute(self, image, text, instance_ids):
                return _local_mean(image, text, instance_ids)

    assert OldStyle.gathering is Gathering.LOCAL and OldStyle.negatives is Gathering.LOCAL
    assert gathering_of(OldStyle(None)) is Gathering.LOCAL
    check_loss(OldStyle)


def test_the_new_name_warns_nothing_and_reads_back_under_the_old_one():
    with warnings.catch_warnings():
        warnings.simplefilter("error")

        class NewStyle(Loss):
            gathering = Gathering.LOCAL
            reduction = "sum"

            def compute(self, image, text, instance_ids):
                return _local_mean(image, text, instance_ids)

    assert NewStyle.negatives is Gathering.LOCAL and gathering_of(NewStyle()) is Gathering.LOCAL


def test_an_option_may_pick_the_gathering_on_the_instance():
    class Picked(Loss):
        def __init__(self, local: bool):
            super().__init__()
            self.gathering = Gathering.LOCAL if local else Gathering.GATHERED

        def compute(self, image, text, instance_ids):
            return _local_mean(image, text, instance_ids)

    assert gathering_of(Picked(True)) is Gathering.LOCAL and gathering_of(Picked(False)) is Gathering.GATHERED
    assert torch.is_tensor(Picked(True)(torch.ones(2, 4), torch.ones(2, 4), torch.arange(2))["pull"])
