"""Declared options: read from a factory's typed signature and docstring, checked before building."""

from __future__ import annotations

import json
import sys
import textwrap
from typing import Annotated, Literal

import pytest
from annotated_types import Ge, Gt, Le

import itr_bench
from itr_bench.cli import main
from itr_bench.errors import ConfigError, ItrBenchError
from itr_bench.options import REQUIRED
from itr_bench.registry import Registry


class Hinge:
    """A hinge loss.

    Args:
        margin: hinge margin on cosine similarity.
        reduction: how terms are combined.
        scale: a multiplier,
            described on two lines.
    """

    def __init__(self, context, *, margin: Annotated[float, Ge(0)] = 0.2,
                 reduction: Literal["sum", "mean"] = "sum", scale: Annotated[float, Gt(0), "unused"] = 1.0,
                 blocks: tuple[int, ...] = (1, 2), name: str | None = None):
        self.context, self.margin, self.reduction = context, margin, reduction


def registry_with(factory, kind="loss", plugin="mine"):
    registry = Registry(("loss", "dataset", "negative_sampler"))
    registry.register(kind, "hinge", factory, plugin=plugin)
    return registry


def test_options_come_from_the_signature_and_the_docstring():
    options = registry_with(Hinge).get("loss", "hinge").options
    assert options.names() == ["margin", "reduction", "scale", "blocks", "name"]  # the context is not an option
    margin = options.get("margin")
    assert (margin.annotation, margin.type_text, margin.default, margin.help) == (
        "Annotated[float, Ge(0)]", "float >= 0", 0.2, "hinge margin on cosine similarity.")
    assert options.get("scale").help == "a multiplier, described on two lines."
    assert options.get("blocks").default == (1, 2) and not options.open


def test_build_checks_options_before_calling_the_factory():
    registry = registry_with(Hinge)
    assert registry.build("loss", "hinge", "ctx", options={"margin": 1, "reduction": "mean"}).margin == 1
    cases = {
        "margn": (0.1, r"x.toml: loss_options.hinge.margn: loss 'hinge' \(plugin 'mine'\) takes no option 'margn', "
                       r"did you mean 'margin'\?"),
        "margin": ("big", r"loss_options.hinge.margin: loss 'hinge' \(plugin 'mine'\): expected a number, got 'big' "
                          r"\(a string\)"),
        "reduction": ("median", r"expected one of 'sum', 'mean', got 'median'"),
        "blocks": ([1, "x"], r"loss_options.hinge.blocks\[1\]: loss 'hinge' \(plugin 'mine'\): expected an integer, got 'x'"),
        "name": (3, r"expected a string or nothing, got 3 \(an integer\)"),
        "scale": (0.0, r"loss_options.hinge.scale: loss 'hinge' \(plugin 'mine'\): must be positive, got 0.0"),
    }
    for key, (value, message) in cases.items():
        with pytest.raises(ConfigError, match=message):
            registry.build("loss", "hinge", "ctx", options={key: value}, where="x.toml", key="loss_options.hinge")
    with pytest.raises(ConfigError, match="must be zero or positive, got -1"):
        registry.create("loss", "hinge", "ctx", margin=-1)
    assert registry.build("loss", "hinge", "ctx", options={"margin": 0, "blocks": [3], "name": None}).margin == 0


def test_bool_is_not_a_number_and_int_is_a_float():
    registry = registry_with(Hinge)
    with pytest.raises(ConfigError, match="expected a number, got True"):
        registry.create("loss", "hinge", None, margin=True)
    registry.create("loss", "hinge", None, margin=2)


def test_required_option_and_open_factories():
    def needs_model(context, *, model: str, **rest):
        """Needs a model.

        Args:
            model: the model name.
        """
        return model, rest

    registry = registry_with(needs_model)
    info = registry.get("loss", "hinge")
    assert info.options.get("model").default is REQUIRED and info.options.open
    with pytest.raises(ConfigError, match="needs option 'model' \\(the model name.\\)"):
        registry.create("loss", "hinge", None)
    assert registry.create("loss", "hinge", None, model="m", other=1) == ("m", {"other": 1})  # **rest: unchecked


def test_errors_of_the_factory_name_the_plugin_and_bugs_keep_their_traceback():
    def refuses(context, *, size: int = 1):
        """Refuses."""
        raise ItrBenchError("size too large")

    def buggy(context):
        """Has a bug."""
        return 1 / 0

    with pytest.raises(ItrBenchError, match=r"^run.toml: loss 'hinge' \(plugin 'p'\): size too large$"):
        registry_with(refuses, plugin="p").build("loss", "hinge", None, where="run.toml")
    with pytest.raises(ZeroDivisionError) as excinfo:
        registry_with(buggy, plugin="p").build("loss", "hinge", None)
    assert "while building loss 'hinge' (plugin 'p')" in excinfo.value.__notes__


def test_a_lazy_reference_is_read_from_source_without_importing(tmp_path, monkeypatch):
    (tmp_path / "lazy_plugin_mod.py").write_text(textwrap.dedent('''
        import no_such_heavy_library  # importing this module would fail

        MARGIN = 0.5

        class Loss:
            """A lazily registered loss.

            Args:
                margin: the margin.
                form: which form.
            """

            def __init__(self, context, *, margin: float = MARGIN, form: "str" = "a", other: int = max(1, 2)):
                pass
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = registry_with(itr_bench.lazy("lazy_plugin_mod:Loss"))
    info = registry.get("loss", "hinge")
    assert info.description == "A lazily registered loss."
    assert [(o.name, o.annotation, o.default, o.help) for o in info.options][:2] == [
        ("margin", "float", 0.5, "the margin."), ("form", "str", "a", "which form.")]
    assert repr(info.options.get("other").default) == "max(1, 2)"
    with pytest.raises(ConfigError, match="takes no option 'margn', did you mean 'margin'"):
        info.check_options({"margn": 1})
    assert "lazy_plugin_mod" not in sys.modules
    with pytest.raises(ModuleNotFoundError) as excinfo:  # a broken plugin module: a bug, named
        registry.create("loss", "hinge", None)
    assert "while building loss 'hinge' (plugin 'mine')" in excinfo.value.__notes__


def test_every_builtin_component_declares_typed_documented_options():
    from itr_bench.plugins import get_plugin_manager, load_registry
    from itr_bench.testing import check_options

    registry = load_registry(get_plugin_manager(load_entrypoints=False))
    for info in registry.list():
        if info.kind != "suite":
            check_options(registry, info.kind, info.name)
            assert not info.options.open, f"{info.kind} {info.name} takes **kwargs: its options are not declared"
    textcnn = registry.get("text_encoder", "dualpath-textcnn").options  # defaults imported from another module
    assert (textcnn.get("blocks").default, textcnn.get("word_dim").default) == ((3, 4, 6, 1), 300)


def test_list_options_json(capsys):
    assert main(["list", "losses", "--options", "--json", "--filter", "rank*"]) == 0
    [ranking] = json.loads(capsys.readouterr().out)
    options = {option["name"]: option for option in ranking["options"]}
    assert options["margin"] == {"name": "margin", "type": "float >= 0", "default": 1.0, "required": False,
                                 "help": "hinge margin m on cosine similarity (>= 0; the paper's builders use 1.0).",
                                 "search": "[0.02, 1] log"}
    assert set(options) == {"form", "margin", "reduction", "exclude_same_instance"}
    assert main(["list", "negative-samplers", "--options"]) == 0
    out = capsys.readouterr().out
    assert "negative-sampler hardest (itr_bench_losses)" in out and "candidates" in out and "256" in out


def test_dry_run_refuses_a_misspelled_option_without_importing_torch_or_the_components(tmp_path):
    """What keeps ``--dry-run`` fast: the built-ins' options are read from source, not imported."""
    import subprocess

    suite = tmp_path / "typo.toml"
    suite.write_text(textwrap.dedent('''
        [suite]
        name = "typo"
        datasets = ["synthetic"]

        [defaults]
        image_encoder = "dualpath-image"
        text_encoder = "dualpath-textcnn"
        loss_options = { ranking = { form = "vsepp-sum", margn = 0.2 } }

        [[runs]]
        name = "vse"
        stages = [{ epochs = 1, losses = { ranking = 1.0 } }]
    '''))
    script = ("import sys; from itr_bench.cli import main; "
              f"code = main(['run', {str(suite)!r}, '--dry-run', '--store', {str(tmp_path / 'store')!r}]); "
              "heavy = sorted(m for m in ('torch', 'pandas', 'itr_bench_losses.ranking', 'itr_bench_dualpath.image') "
              "if m in sys.modules); print(code, heavy)")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert proc.stdout.strip() == "2 []", proc.stdout + proc.stderr
    assert f"{suite}: run 'vse': runs[0].loss_options.ranking.margn: loss 'ranking' (plugin 'itr_bench_losses') " \
           "takes no option 'margn', did you mean 'margin'?" in proc.stderr


@pytest.mark.parametrize("args, line", [
    (["prepare", "synthetic", "-o", "trian=3"],
     "prepare: -o trian: dataset 'synthetic' (plugin 'itr_bench_datasets') takes no option 'trian', "
     "did you mean 'train'?"),
    (["list", "datasets", "--stats", "synthetic", "-o", "train=many"],
     "--stats: -o train: dataset 'synthetic' (plugin 'itr_bench_datasets'): expected an integer, got 'many' (a string)"),
])
def test_commands_building_a_dataset_check_its_options_first(tmp_path, capsys, monkeypatch, args, line):
    monkeypatch.setenv("ITR_BENCH_CACHE", str(tmp_path / "cache"))
    assert main(args) == 2
    assert capsys.readouterr().err == f"itr-bench: error: {line}\n"
    assert not (tmp_path / "cache").exists()  # refused before anything was prepared


@pytest.mark.parametrize("value, kind, answer", [
    ("big", "Annotated[int, Ge(1)]", ("", "expected an integer, got 'big' (a string)")),
    (0, "Annotated[int, Ge(1)] | None", ("", "must be positive, got 0")),
    (None, "Annotated[int, Ge(1)] | None", None),
    (float("inf"), "Annotated[float, Ge(0)]", ("", "must be a finite number, got inf")),
    (1.0, "Annotated[float, Ge(0), Lt(1)]", ("", "must be in [0, 1), got 1.0")),
    (2**32, "Annotated[int, Ge(0), Le(2**32 - 1)]", ("", "must be in [0, 4294967295], got 4294967296")),
    ([1, 0], "list[Annotated[int, Ge(1)]]", ("[1]", "must be positive, got 0")),
    ({"a": 1.0, "b": -1}, "dict[str, Annotated[float, Ge(0)]]", (".b", "must be zero or positive, got -1")),
    ("x", "Literal['sum', 'mean'] | None", ("", "expected one of 'sum', 'mean' or nothing, got 'x' (a string)")),
    (0, "Annotated[int, Ge(1)] | Annotated[float, Gt(0), Lt(1)]", ("", "must be positive, got 0")),
    (1.5, "Annotated[int, Ge(1)] | Annotated[float, Gt(0), Lt(1)]", ("", "must be in (0, 1), got 1.5")),
    (True, "float", ("", "expected a number, got True (a boolean)")),
])
def test_one_checker_for_every_declaration(value, kind, answer):
    """The checker of options, config fields and record fields: where inside the value, and why."""
    from itr_bench.options import evaluate, value_problem

    assert value_problem(value, evaluate(kind, {})) == answer


def test_a_table_declares_each_key_and_a_reader_words_its_limits():
    """Record metrics: each key its own bounds, the rest finite; the record's reader says 'impossible'."""
    from itr_bench.options import Table, value_problem
    from itr_bench.store.record_ranges import METRICS, say_impossible

    table = Table({"r1": Annotated[float, Ge(0), Le(100)]}, other=int)
    assert value_problem({"r1": 50.0, "n": 3}, table) is None
    assert value_problem({"r1": 150.0}, table) == (".r1", "must be in [0, 100], got 150.0")
    assert value_problem({"n": 1.5}, table) == (".n", "expected an integer, got 1.5 (a number)")
    assert value_problem([1], table) == ("", "expected a table, got [1] (a list)")
    assert value_problem({"rsum": 601.0}, METRICS, say=say_impossible)[1].startswith(
        "601.0 is impossible (it must be in [0, 600])")
    assert value_problem({"unknown": float("inf")}, METRICS, say=say_impossible) == (
        ".unknown", "expected a finite number, got inf")
