"""The plugin authors' test kit (itr_bench.testing): every built-in passes it, and each check catches
the defect it exists for, with a message that says what to fix."""

from __future__ import annotations

import dataclasses
import importlib.metadata

import pytest
import torch
from torch import nn

from itr_bench.api import (
    Dataset,
    EncoderContext,
    EncoderOutput,
    Gathering,
    ImageEncoder,
    Inputs,
    Loss,
    Protocol,
    Sample,
    Split,
    TextEncoder,
)
from itr_bench.errors import ItrBenchError
from itr_bench.plugins import get_plugin_manager, load_registry
from itr_bench.registry import Registry
from itr_bench.testing import check_dataset, check_encoder, check_loss

CAPTIONS = ("a dog runs on the grass", "two people sit on a bench near the water", "a man rides a bike") * 2


# ============================================================================================
# The kit as a pytest plugin
# ============================================================================================


def test_pytest_loads_it_through_the_distributions_entry_point(pytestconfig):
    import itr_bench.testing

    assert pytestconfig.pluginmanager.get_plugin("itr_bench") is itr_bench.testing, (
        "itr_bench.testing is not loaded as pytest plugin 'itr_bench': reinstall itr-bench (pip install -e .) "
        "so that its pytest11 entry point is registered"
    )
    declared = {(ep.name, ep.value) for dist in importlib.metadata.distributions()
                if dist.metadata["name"] == "itr-bench" for ep in dist.entry_points if ep.group == "pytest11"}
    assert ("itr_bench", "itr_bench.testing") in declared


def test_fixtures_give_a_fresh_registry_with_the_installed_plugins(request):
    registry = request.getfixturevalue("itr_bench_registry")
    assert isinstance(registry, Registry) and "infonce" in registry.names("loss")
    assert registry is not load_registry(request.getfixturevalue("itr_bench_plugin_manager"))


# ============================================================================================
# Built-ins pass
# ============================================================================================


def pytest_generate_tests(metafunc):
    if "builtin_loss" in metafunc.fixturenames:
        metafunc.parametrize("builtin_loss", load_registry(get_plugin_manager(load_entrypoints=False)).names("loss"))


#: Losses whose default batch layout is not "every pair interchangeable".
LAYOUTS = {"ranking": "anchors-then-negatives"}  # the paper's form: anchors, then their negatives


def test_every_builtin_loss_passes(registry, builtin_loss):
    check_loss(registry, builtin_loss, batch_layout=LAYOUTS.get(builtin_loss, "free"))


@pytest.mark.parametrize("form", ["vsepp-sum", "vsepp-max"])
def test_in_batch_ranking_forms_pass_with_options(registry, form):
    check_loss(registry, "ranking", options={"form": form, "reduction": "mean"})


def test_the_papers_ranking_layout_is_caught_by_the_free_permutation(registry):
    with pytest.raises(AssertionError, match="permuted.*batch_layout='anchors-then-negatives'"):
        check_loss(registry, "ranking")


@pytest.mark.parametrize("options", [{}, {"renderings": 3, "train": 6, "val": 4, "test": 4}])
def test_synthetic_dataset_passes(registry, options):
    check_dataset(registry.create("dataset", "synthetic", None, **{"train": 12, "val": 6, "test": 6, "image_size": 16,
                                                                  **options}))


def test_real_flickr8k_passes(registry, shared_datasets):
    check_dataset(registry.create("dataset", "flickr8k", shared_datasets / "flickr8k"))


def test_small_builtin_encoders_pass(registry):
    context = EncoderContext(embed_dim=16, train_captions=CAPTIONS)
    check_encoder(registry.create("image_encoder", "dualpath-image", context, backbone="resnet10t", width=1 / 16),
                  "image", image_size=32)
    check_encoder(registry.create("text_encoder", "dualpath-textcnn", context, word2vec=None, width=1 / 16,
                                  blocks=(1, 1, 1, 1)), "text-encoder", captions=CAPTIONS)


def test_test_support_encoders_pass():
    from tiny_models import TinyImage, TinyText

    context = EncoderContext(train_captions=CAPTIONS)
    check_encoder(TinyImage(context), "image", image_size=16)
    check_encoder(TinyText(context), "text", captions=CAPTIONS)


# ============================================================================================
# Broken losses
# ============================================================================================


class Hinge(Loss):
    """A correct in-batch hinge; the broken losses below each change one thing."""

    def __init__(self, context, margin=0.2):
        super().__init__()
        self.margin = margin

    def similarities(self, image, text):
        return image @ text.T

    def compute(self, image, text, instance_ids):
        sim = self.similarities(image, text)
        negative = instance_ids[:, None] != instance_ids[None, :]
        cost = (self.margin + sim - sim.diagonal()[:, None]).clamp(min=0) * negative
        return {"hinge": cost.sum() / len(image)}


class NotALoss(nn.Module):
    def __init__(self, context):
        super().__init__()

    def forward(self, image, text, instance_ids):
        return {"value": (image * text).sum()}


class BadInputs(Hinge):
    inputs = "cosine"


class LocalWithoutReduction(Hinge):
    gathering = Gathering.LOCAL


class LocalWithOddReduction(Hinge):
    gathering = Gathering.LOCAL
    reduction = "mean_nonzero"


class NanValue(Hinge):
    def compute(self, image, text, instance_ids):
        return {"hinge": super().compute(image, text, instance_ids)["hinge"] + torch.log(image[0, 0] - 10)}


class NanGradient(Hinge):
    def compute(self, image, text, instance_ids):  # the value is finite (0 + hinge), its gradient is not
        return {"hinge": super().compute(image, text, instance_ids)["hinge"] + (image - image.detach()).pow(2).sum().sqrt()}


class Detached(Hinge):
    def compute(self, image, text, instance_ids):
        return {"hinge": super().compute(image.detach(), text.detach(), instance_ids)["hinge"]}


class NotScalar(Hinge):
    def compute(self, image, text, instance_ids):
        return {"hinge": (image * text).sum(dim=1)}


class CrashesOnOneSample(Hinge):
    def compute(self, image, text, instance_ids):
        return {"hinge": super().compute(image, text, instance_ids)["hinge"] + image[1, 0] * 0}


class MultiLineRefusal(Hinge):
    def compute(self, image, text, instance_ids):
        if len(image) % 2:
            raise ItrBenchError("odd batch\nsee the docs")
        return super().compute(image, text, instance_ids)


class NanOnOneSample(Hinge):
    def compute(self, image, text, instance_ids):  # an unbiased variance: 0 / 0 for one sample
        spread = (image - image.mean(dim=0)).pow(2).sum(dim=0) / (len(image) - 1)
        return {"hinge": super().compute(image, text, instance_ids)["hinge"] + spread.mean()}


class OrderDependent(Hinge):
    def compute(self, image, text, instance_ids):  # the next pair's caption as the only negative
        sim = (image * text).sum(dim=1)
        return {"hinge": (self.margin - sim + (image * text.roll(1, 0)).sum(dim=1)).clamp(min=0).mean()}


class FailsUnderAutocast(Hinge):
    def similarities(self, image, text):
        sim = image @ text.T
        sim[torch.eye(len(sim), dtype=torch.bool)] = (image * text).sum(dim=1)  # float32 into bf16 under autocast
        return sim


class AcceptsOddHalves(Hinge):
    gathering = Gathering.LOCAL
    reduction = "mean"


@pytest.mark.parametrize("loss, message", [
    (NotALoss, "subclass of itr_bench.api.Loss"),
    (BadInputs, "inputs = 'cosine' is not valid; declare one of Inputs.NORMALIZED, Inputs.EMBEDDING, Inputs.FEATURES"),
    (LocalWithoutReduction, r"reduction = None; set the attribute reduction to one of \('mean', 'sum'\)"),
    (LocalWithOddReduction, "reduction = 'mean_nonzero'"),
    (NanValue, "term 'hinge' is nan"),
    (NanGradient, "gradient of the image embeddings is not finite"),
    (Detached, "do not require grad"),
    (NotScalar, "refused a batch of 8 with repeated ids: .*term 'hinge' is not a scalar"),
    (CrashesOnOneSample, "raised IndexError on a batch of 1"),
    (MultiLineRefusal, "spans several lines; make it one line"),
    (NanOnOneSample, "is nan on a batch of 1"),
    (OrderDependent, "changes from .* when the pairs are permuted with their ids"),
    (FailsUnderAutocast, "fails under bf16 autocast"),
])
def test_each_loss_defect_is_caught(loss, message):
    with pytest.raises(AssertionError, match=message):
        check_loss(loss)


def test_the_correct_hinge_passes():
    check_loss(Hinge)


def test_a_layout_loss_must_refuse_odd_batches():
    with pytest.raises(AssertionError, match="batch of 1 was accepted; raise an ItrBenchError"):
        check_loss(AcceptsOddHalves, batch_layout="anchors-then-negatives")


def test_a_registered_loss_needs_a_description(pm, register_plugin):
    import itr_bench

    class Undocumented(Hinge):
        __doc__ = None

    class Plugin:
        @itr_bench.hookimpl
        def register_losses(self, register):
            register("undocumented", Undocumented)

    register_plugin(Plugin(), "undocumented-plugin")
    with pytest.raises(AssertionError, match="no description; give the class a docstring"):
        check_loss(load_registry(pm), "undocumented")


def test_a_refusing_factory_is_reported(registry):
    with pytest.raises(AssertionError, match="factory refused"):
        check_loss(registry, "triplet", options={"reduction": "median"})


# ============================================================================================
# Broken datasets
# ============================================================================================


class Listed(Dataset):
    """A dataset made of given splits (the broken ones below change one thing each)."""

    def __init__(self, splits):
        self._splits = splits

    def splits(self):
        return self._splits


def sample(name, instance_id, captions=("a caption",)):
    return Sample(image=b"png", captions=tuple(captions), instance_id=instance_id, image_id=name)


def good_splits():
    return {
        "train": Split("train", [sample("a", 0), sample("b", 1)]),
        "val": Split("val", [sample("c", 0)]),
        "test": Split("test", [sample("d", 0), sample("e", 1)]),
    }


def broken(**changes):
    splits = good_splits()
    for key, value in changes.items():
        split, _, field = key.partition("__")
        splits[split] = value if not field else dataclasses.replace(splits[split], **{field: value})
    return Listed({k: v for k, v in splits.items() if v is not None})


def test_a_good_dataset_passes():
    check_dataset(broken())


@pytest.mark.parametrize("dataset, message", [
    (broken(val=None), r"missing split\(s\) val"),
    (broken(train__samples=[sample("a", 1), sample("b", 2)]), r"instance ids must be exactly 0..C-1"),
    (broken(test__samples=[sample("a", 0)]), r"image 'a' is also in Listed split 'train'"),
    (broken(train__samples=[sample("a", 0), sample("b", 1, captions=("ok", "  "))]), "caption '  ' is empty"),
    (broken(train__samples=[sample("a", 0), sample("b", 1, captions=())]), "captions must be a non-empty tuple"),
    (broken(test__protocol="retrieval"), "protocol = 'retrieval' is not valid"),
    (broken(test__folds=0), "folds = 0; use an integer from 1"),
    (broken(test__folds=3), "folds = 3; use an integer from 1 to the number of images"),
    (broken(test__samples=[sample("d", 0), sample("e", 0)]), "give each image its own id"),
    (broken(val__name="validation"), "Split.name is 'validation'"),
    (broken(val__samples=[]), "has no samples"),
    (broken(val__samples=[("c", 0)]), "must be an itr_bench.api.Sample"),
])
def test_each_dataset_defect_is_caught(dataset, message):
    with pytest.raises(AssertionError, match=message):
        check_dataset(dataset)


def test_identity_splits_may_share_ids():
    check_dataset(broken(test__samples=[sample("d", 0), sample("e", 0)], test__protocol=Protocol.IDENTITY))


def test_missing_image_files_are_caught(tmp_path):
    missing = Sample(image=tmp_path / "nope.jpg", captions=("a caption",), instance_id=0, image_id="nope")
    with pytest.raises(AssertionError, match="nope.jpg does not exist"):
        check_dataset(broken(val__samples=[missing]))


# ============================================================================================
# Broken encoders
# ============================================================================================


class Image(ImageEncoder):
    """A correct small image encoder; the broken ones below each change one thing."""

    def __init__(self, dim=8):
        super().__init__()
        self.output_dim = dim
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, dim)

    def forward(self, images):
        return self.fc(self.conv(images).mean(dim=(2, 3)))


class WrongWidth(Image):
    def forward(self, images):
        return super().forward(images)[:, :4]


class NotFlat(Image):
    def forward(self, images):
        return self.conv(images)


class NonFinite(Image):
    def forward(self, images):
        return super().forward(images) / 0


class MismatchedFeatures(Image):
    def forward(self, images):
        embedding = super().forward(images)
        return EncoderOutput(embedding, torch.cat([embedding, embedding], dim=1))


class GroupMissesParameters(Image):
    def param_groups(self):
        return {"image.trunk": list(self.conv.parameters())}


class ParameterInTwoGroups(Image):
    def param_groups(self):
        return {"image.trunk": list(self.conv.parameters()), "image.all": list(self.parameters())}


class GroupWithoutPrefix(Image):
    def param_groups(self):
        return {"trunk": list(self.conv.parameters()), "image.head": list(self.fc.parameters())}


class NoOutputDim(Image):
    def __init__(self):
        super().__init__()
        del self.output_dim


class Tokenizer:
    max_length = 6

    def __init__(self, dtype=torch.long, length=6):
        self.dtype, self.length = dtype, length

    def __call__(self, captions):
        return torch.ones(len(captions), self.length, dtype=self.dtype)


class Text(TextEncoder):
    def __init__(self, tokenizer=None):
        super().__init__()
        self.output_dim = 8
        self.tokenizer = tokenizer or Tokenizer()
        self.embedding = nn.EmbeddingBag(4, 8)

    def forward(self, ids):
        return self.embedding(ids)


class NoTokenizer(Text):
    def __init__(self):
        super().__init__()
        del self.tokenizer


def test_correct_small_encoders_pass():
    check_encoder(Image(), "image", image_size=8)
    check_encoder(Text(), "text")


@pytest.mark.parametrize("encoder, kind, message", [
    (WrongWidth(), "image", r"embedding has shape \(3, 4\), expected \(3, 8\)"),
    (NotFlat(), "image", r"has shape \(3, 4, 6, 6\), expected \(3, 8\)"),
    (NonFinite(), "image", "embedding is not finite"),
    (MismatchedFeatures(), "image", r"features has shape \(3, 16\)"),
    (GroupMissesParameters(), "image", "parameters in no group would never train: fc.weight, fc.bias"),
    (ParameterInTwoGroups(), "image", "parameter conv.weight is in both 'image.trunk' and 'image.all'"),
    (GroupWithoutPrefix(), "image", "group 'trunk' must be 'image' or start with 'image.'"),
    (NoOutputDim(), "image", "set self.output_dim"),
    (Image(), "text", "must subclass itr_bench.api.TextEncoder"),
    (NoTokenizer(), "text", "set self.tokenizer"),
    (Text(Tokenizer(dtype=torch.int32)), "text", "must return a \\(B, L\\) LongTensor, got torch.int32"),
    (Text(Tokenizer(length=9)), "text", "pad or truncate to at most max_length"),
])
def test_each_encoder_defect_is_caught(encoder, kind, message):
    with pytest.raises(AssertionError, match=message):
        check_encoder(encoder, kind, image_size=8)


def test_an_unknown_kind_is_a_usage_error():
    with pytest.raises(ValueError, match="use 'image' or 'text'"):
        check_encoder(Image(), "audio")


def test_inputs_declarations_are_checked_as_enums():
    assert Inputs("normalized") is Inputs.NORMALIZED  # the kit accepts the string values too
