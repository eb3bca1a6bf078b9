"""One test per hook in itr_bench/hookspecs.py: an inline plugin implements it and the component
(or command) reaches the user with its owner, passing the plugin authors' kit where one applies.
test_meta.py requires a test named after every hook."""

from __future__ import annotations

import click
from click.testing import CliRunner

import itr_bench
from itr_bench.api import Dataset, EncoderContext, LossContext, Sample, Split
from itr_bench.cli import make_cli
from itr_bench.plugins import load_registry
from itr_bench.suites.plan import expand, load_suite
from itr_bench.testing import check_dataset, check_encoder, check_loss


def test_register_losses_gives_an_owned_loss_that_passes_the_kit(pm, register_plugin):
    from itr_bench.api import Gathering, Loss

    class Alignment(Loss):
        """Mean squared distance between matching embeddings (a LOCAL loss).

        Args:
            scale: multiplies the distance.
        """

        gathering = Gathering.LOCAL
        reduction = "mean"

        def __init__(self, context: LossContext, scale: float = 1.0):
            super().__init__()
            self.scale = scale

        def compute(self, image, text, instance_ids):
            return {"alignment": (image - text).pow(2).sum(dim=1).mean() * self.scale}

    class Plugin:
        @itr_bench.hookimpl
        def register_losses(self, register):
            register("alignment", Alignment, tags=("local",))

    register_plugin(Plugin(), "alignment-plugin")
    registry = load_registry(pm)
    info = registry.get("loss", "alignment")
    assert (info.plugin, info.description, dict(info.metadata)) == (
        "alignment-plugin", "Mean squared distance between matching embeddings (a LOCAL loss).", {"tags": ("local",)})
    check_loss(registry, "alignment", options={"scale": 2.0})


def test_register_negative_samplers_gives_an_owned_sampler_that_a_run_uses(pm, register_plugin, tmp_path):
    from tiny_models import TinyPlugin, tiny_config

    from itr_bench.api import NegativeSampler
    from itr_bench.engine.run import train_run

    calls = []

    class NextImage(NegativeSampler):
        """The pair of the next training image (a deterministic toy)."""

        def __init__(self, step: int = 1):
            self.step = step

        def choose(self, anchors, pool):
            calls.append(len(anchors))
            return pool.pairs((anchors.images + self.step) % len(pool.instance_ids))

    class Plugin:
        @itr_bench.hookimpl
        def register_negative_samplers(self, register):
            register("next-image", NextImage)

    register_plugin(Plugin(), "next-plugin")
    register_plugin(TinyPlugin(), "tiny")
    registry = load_registry(pm)
    info = registry.get("negative_sampler", "next-image")
    assert (info.plugin, info.description) == ("next-plugin", "The pair of the next training image (a deterministic toy).")
    result = CliRunner().invoke(make_cli(pm), ["list", "negative-samplers"])
    assert "next-image" in result.output and "hardest" in result.output
    record = train_run(tiny_config(tmp_path / "cache", loss_options={"ranking": {"form": "paper"}},
                                   negatives="next-image", negative_options={"step": 2}),
                       registry, tmp_path / "run", progress=False)
    assert record["negatives"] == {"sampler": "next-image", "options": {"step": 2}, "from": "run"}
    assert calls and set(calls) == {8}  # batch 16: 8 anchors, one call per paired batch


def test_register_image_encoders_and_register_text_encoders_give_encoders_that_pass_the_kit(pm, register_plugin):
    from tiny_models import TinyPlugin

    register_plugin(TinyPlugin(), "tiny")
    registry = load_registry(pm)
    context = EncoderContext(train_captions=("a red box", "two blue dots"))
    assert registry.get("image_encoder", "tiny-image").plugin == registry.get("text_encoder", "tiny-text").plugin == "tiny"
    check_encoder(registry.create("image_encoder", "tiny-image", context, dim=8), "image", image_size=16)
    check_encoder(registry.create("text_encoder", "tiny-text", context, dim=8), "text")


def test_register_text_encoders_receives_the_training_captions(pm, register_plugin):
    from tiny_models import TinyText

    seen = []

    def factory(context: EncoderContext):
        seen.append(tuple(context.train_captions))
        return TinyText(context)

    class Plugin:
        @itr_bench.hookimpl
        def register_text_encoders(self, register):
            register("recording-text", factory, description="TinyText that records its context")

    register_plugin(Plugin(), "recording")
    load_registry(pm).create("text_encoder", "recording-text", EncoderContext(train_captions=("only train",)))
    assert seen == [("only train",)]


def test_register_datasets_factory_gets_the_root_and_passes_the_kit(pm, register_plugin, tmp_path):
    class Pairs(Dataset):
        """Two images per split, as bytes."""

        def __init__(self, root, prefix="x"):
            self.root, self.prefix = root, prefix

        def splits(self):
            return {name: Split(name, [Sample(b"img", (f"{name} caption {i}",), i, f"{self.prefix}-{name}-{i}")
                                       for i in range(2)]) for name in ("train", "val", "test")}

    class Plugin:
        @itr_bench.hookimpl
        def register_datasets(self, register):
            register("pairs", Pairs)

    register_plugin(Plugin(), "pairs-plugin")
    dataset = load_registry(pm).create("dataset", "pairs", tmp_path, prefix="p")
    assert dataset.root == tmp_path
    check_dataset(dataset)


def test_register_suites_as_a_mapping_and_as_a_toml_path(pm, register_plugin, tmp_path):
    from tiny_models import TinyPlugin

    suite = {
        "suite": {"name": "mine", "datasets": ["synthetic"], "seeds": [0, 1]},
        # synthetic names no negative sampler: the paper-form ranking run must name one
        "defaults": {"image_encoder": "tiny-image", "text_encoder": "tiny-text", "negatives": "random"},
        "runs": [{"each_loss": True, "skip_losses": ["instance"], "stage": {"epochs": 1}}],
    }
    toml = tmp_path / "mine.toml"
    toml.write_text('[suite]\nname = "from-file"\ndatasets = ["synthetic"]\n\n[defaults]\n'
                    'image_encoder = "tiny-image"\ntext_encoder = "tiny-text"\n\n'
                    '[[runs]]\nname = "one"\nstages = [{ epochs = 1, losses = { infonce = 1.0 } }]\n')

    class Plugin:
        @itr_bench.hookimpl
        def register_suites(self, register):
            register("mine", lambda: suite, description="every loss but instance")
            register("from-file", lambda: toml, description="a suite file shipped with the plugin")

    register_plugin(TinyPlugin(), "tiny")
    register_plugin(Plugin(), "suite-plugin")
    registry = load_registry(pm)
    data, where = load_suite("mine", registry)
    runs = expand(data, registry, where, tmp_path / "store")
    losses = set(registry.names("loss")) - {"instance"}
    assert {run.run for run in runs} == losses and len(runs) == 2 * len(losses)
    data, where = load_suite("from-file", registry)
    assert str(toml) in where and [run.run for run in expand(data, registry, where, tmp_path)] == ["one"]


def test_register_commands_adds_a_command_that_sees_the_registry(pm, register_plugin):
    class Plugin:
        @itr_bench.hookimpl
        def register_commands(self, cli):
            @cli.command("count-losses")
            @click.pass_obj
            def count_losses(app):
                """Print how many losses are registered."""
                click.echo(len(app.registry.names("loss")))

    register_plugin(Plugin(), "commands-plugin")
    result = CliRunner().invoke(make_cli(pm), ["count-losses"])
    assert result.exit_code == 0, result.output
    assert int(result.output) == len(load_registry(pm).names("loss")) > 0
