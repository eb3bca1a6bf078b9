"""What a built-in declares is what ``--dry-run`` enforces (issue #27).

Every declared option of every built-in component gets bad values built from its declaration
alone (the wrong type, just outside each limit, nan for a limited number, a value outside its
``Literal``); each is passed as ``itr-bench run SUITE --dry-run --set TABLE.OPTION=VALUE`` and
must be refused with one line naming the key, exit 2, before any data is prepared. All cases run
in one fresh interpreter, which must not have imported torch at the end.

A paper-form ranking run needs a negative sampler: with none named by the run or the dataset it
is refused at ``--dry-run`` too, from the registrations alone.
"""

import contextlib
import io
import json
import math
import subprocess
import sys
import types
import typing
from pathlib import Path

from itr_bench.options import REQUIRED, constraints, value_problem

BUILT_IN = {"itr_bench_losses", "itr_bench_datasets", "itr_bench_dualpath", "itr_bench_backbones"}

SUITE = """
[suite]
name = "walk"
datasets = ["{dataset}"]
seeds = [0]

[defaults]
image_encoder = "{image_encoder}"
text_encoder = "{text_encoder}"
device = "cpu"
{extra}

[[runs]]
name = "r"
stages = [{{ epochs = 1, losses = {{ {loss} = 1.0 }} }}]
"""

#: A valid run for every role but the one under test.
BASE = {"dataset": "synthetic", "image_encoder": "dualpath-image", "text_encoder": "dualpath-textcnn",
        "loss": "instance", "extra": ""}


def arms(kind):
    """The alternatives of a declaration (``X | Y | None`` -> X, Y, None), Annotated kept."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return list(typing.get_args(kind))
    return [kind]


def base(kind):
    return typing.get_args(kind)[0] if typing.get_origin(kind) is typing.Annotated else kind


def outside(bound, integer):
    """A number just outside ``bound``."""
    step = 1 if integer else 0.5
    for name, shift in (("gt", 0), ("ge", -step), ("lt", 0), ("le", step)):
        if hasattr(bound, name):
            return getattr(bound, name) + shift
    raise AssertionError(bound)


def bad_values(kind):
    """Values the declaration ``kind`` refuses, each built from the declaration alone."""
    found = []
    types_ = [base(arm) for arm in arms(kind)]
    takes_string = any(t is str or typing.get_origin(t) is typing.Literal
                       and any(isinstance(v, str) for v in typing.get_args(t)) for t in types_)
    found.append(12345 if takes_string else "not-a-value")  # the wrong type
    for arm in arms(kind):
        inner = base(arm)
        if typing.get_origin(inner) is typing.Literal:
            values = typing.get_args(inner)
            found.append("not-a-choice" if isinstance(values[0], str) else max(values) + 1)
        for bound in constraints(arm) if typing.get_origin(arm) is typing.Annotated else []:
            found.append(outside(bound, inner is int))
            if inner is float:
                found.append(math.nan)
        container = typing.get_origin(inner)
        if container is not None and container not in (typing.Literal, typing.Union, types.UnionType):
            item = (typing.get_args(inner) or [typing.Any])[0]
            found.append([12345 if base(item) is str else "not-a-value"])  # an item of the wrong type
            for bound in constraints(item) if typing.get_origin(item) is typing.Annotated else []:
                found.append([outside(bound, base(item) is int)])
    return [value for value in found if value_problem(value, kind) is not None]


def cases(registry):
    """(suite fields, --set key, value) for every bad value of every built-in option."""
    roles = {"dataset": ("dataset", "dataset_options"), "image_encoder": ("image_encoder", "image_options"),
             "text_encoder": ("text_encoder", "text_options")}
    out = []
    for info in registry.list():
        if info.plugin not in BUILT_IN or info.kind == "suite":
            continue
        fields = dict(BASE)
        if info.kind == "loss":
            fields["loss"], table = info.name, f"loss_options.{info.name}"
        elif info.kind == "negative_sampler":
            fields["extra"], table = f'negatives = "{info.name}"', "negative_options"
        else:
            role, table = roles[info.kind]
            fields[role] = info.name
        required = {o.name: "x" for o in info.options if o.required}
        if required:
            fields["extra"] += f"\n{table} = {{ {', '.join(f'{k} = {json.dumps(v)}' for k, v in required.items())} }}"
        for option in info.options:
            values = bad_values(option.type)
            assert values, f"{info.label}: option {option.name} ({option.annotation}) yields no bad value"
            out += [(fields, f"{table}.{option.name}", value) for value in values]
    return out


def walk(folder: str) -> dict:
    """Run every case through the command line in this interpreter; the failures, and whether torch
    was imported on the way."""
    from itr_bench.cli import main
    from itr_bench.plugins import get_plugin_manager, load_registry

    folder_ = Path(folder)
    failures, count = [], 0
    for i, (fields, key, value) in enumerate(cases(load_registry(get_plugin_manager()))):
        suite = folder_ / f"walk-{i}.toml"
        suite.write_text(SUITE.format(**fields))
        stderr = io.StringIO()
        argv = ["run", str(suite), "--dry-run", "--store", str(folder_ / "store"), "--set", f"{key}={json.dumps(value)}"]
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
        lines = stderr.getvalue().strip().splitlines()
        if code != 2 or len(lines) != 1 or key not in lines[0]:
            failures.append(f"{key}={value!r}: exit {code}: {stderr.getvalue().strip()[-300:]}")
        count += 1
    return {"count": count, "failures": failures, "torch": "torch" in sys.modules,
            "store": (folder_ / "store").exists()}


def test_bad_values_are_built_from_declarations():
    from typing import Annotated, Literal, Sequence

    from annotated_types import Ge, Gt, Lt

    positive = bad_values(Annotated[float, Gt(0)])
    assert positive[:2] == ["not-a-value", 0] and math.isnan(positive[2]) and len(positive) == 3
    fraction = bad_values(Annotated[float, Ge(0), Lt(1)])
    assert [v for v in fraction if not (isinstance(v, float) and math.isnan(v))] == ["not-a-value", -0.5, 1]
    assert bad_values(Literal["sum", "mean"]) == [12345, "not-a-choice"]
    assert bad_values(Annotated[int, Ge(1)] | None) == ["not-a-value", 0]
    assert bad_values(Sequence[Annotated[int, Ge(1)]]) == ["not-a-value", ["not-a-value"], [0]]


def test_every_bad_value_of_every_built_in_option_is_refused_at_dry_run_without_torch(tmp_path):
    here = Path(__file__).parent
    code = f"import sys, json; sys.path.insert(0, {str(here)!r}); import test_dry_run_declarations as t; " \
           f"print(json.dumps(t.walk({str(tmp_path)!r})))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["failures"] == [], "\n".join(result["failures"])
    assert result["count"] >= 100, result["count"]  # every option of every built-in, several values each
    assert not result["torch"], "a --dry-run refusal imported torch"
    assert not result["store"], "a refused --dry-run wrote into the store"


def test_every_built_in_option_declares_its_type(registry):
    """An undeclared option (``Any``) could not be checked at dry-run."""
    for info in registry.list():
        if info.plugin in BUILT_IN:
            for option in info.options:
                assert option.type is not typing.Any, f"{info.label}: option {option.name} has no declared type"
                if option.default is not REQUIRED and not isinstance(option.default, str | type(None)):
                    assert value_problem(option.default, option.type) is None, (info.label, option.name)


# --------------------------------------------------------------------------------------------
# Which runs need a negative sampler, known from the registrations
# --------------------------------------------------------------------------------------------

def _ranking_suite(tmp_path, dataset="synthetic"):
    fields = {**BASE, "dataset": dataset, "loss": "ranking"}
    path = tmp_path / "ranking.toml"
    path.write_text(SUITE.format(**fields))
    return path


def _dry_run(path, *sets):
    """``run --dry-run`` in a fresh interpreter: exit code, stderr, whether torch was imported."""
    argv = ["run", str(path), "--dry-run", "--store", str(path.parent / "store")]
    for item in sets:
        argv += ["--set", item]
    code = (f"import sys, io, contextlib; from itr_bench.cli import main\n"
            f"code = main({argv!r})\nprint(code, 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    exit_code, torch = proc.stdout.strip().splitlines()[-1].split()
    return int(exit_code), proc.stderr, torch == "True"


def test_a_paper_ranking_run_without_a_sampler_is_refused_at_dry_run(tmp_path):
    path = _ranking_suite(tmp_path)  # synthetic's hints name no negative sampler
    code, err, torch = _dry_run(path)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "run 'r': runs[0].negatives: loss 'ranking' takes anchor k's negative" in lines[0]
    assert "set negatives to one of: hardest, random" in lines[0]
    assert not torch and sorted(tmp_path.iterdir()) == [path]  # nothing prepared, nothing written


def test_a_run_that_names_a_sampler_or_needs_none_passes_dry_run(tmp_path):
    path = _ranking_suite(tmp_path)
    assert _dry_run(path, "negatives=random")[0] == 0
    assert _dry_run(path, 'loss_options.ranking.form="vsepp-sum"')[0] == 0
    code, err, _ = _dry_run(path, "negatives=random", "batch_size=31")
    assert code == 2 and "--set batch_size=31: batch_size: loss 'ranking' pairs the batch's halves" in err, err


def test_plan_time_reads_the_layout_and_the_dataset_hint_from_the_registrations(registry):
    from itr_bench.loss_contract import BatchLayout, declared_hints, declared_layout

    ranking = registry.get("loss", "ranking")
    assert declared_layout(ranking, {}) is BatchLayout.ANCHORS_THEN_NEGATIVES  # the default form: paper
    assert declared_layout(ranking, {"form": "vsepp-max"}) is BatchLayout.PAIRS
    assert declared_layout(registry.get("loss", "infonce"), {}) is BatchLayout.PAIRS  # class source, no layout line
    assert declared_hints(registry.get("dataset", "flickr8k"))["negatives"] == "hardest"
    assert "negatives" not in declared_hints(registry.get("dataset", "synthetic"))
    assert declared_hints(registry.get("dataset", "captions")) is None  # computed from the data: checked at build


def test_every_declared_layout_is_the_built_losses(registry):
    import typing

    from itr_bench.api import BatchLayout, LossContext
    from itr_bench.loss_contract import declared_layout

    context = LossContext(embed_dim=8, num_instances=4)
    for info in registry.list("loss"):
        if info.plugin not in BUILT_IN:
            continue
        choices = [{}]
        for option in info.options:
            if typing.get_origin(option.type) is typing.Literal and option.name == "form":
                choices = [{option.name: value} for value in typing.get_args(option.type)]
        for options in choices:
            built = registry.build("loss", info.name, context, options=options)
            assert declared_layout(info, options) is BatchLayout(built.layout), (info.name, options)


def test_a_registration_whose_layout_contradicts_the_loss_is_refused():
    import pytest

    from itr_bench.api import Loss
    from itr_bench.errors import RegistryError
    from itr_bench.loss_contract import check_declared_layout
    from itr_bench.registry import Registry

    class Pairs(Loss):
        def compute(self, image, text, instance_ids):
            return {}

    registry = Registry()
    info = registry.register("loss", "liar", Pairs, plugin="mine", layout="anchors-then-negatives")
    with pytest.raises(RegistryError, match="declares layout 'anchors-then-negatives' .* the built loss has 'pairs'"):
        check_declared_layout(info, {}, Pairs())


def test_the_source_reader_and_the_imported_signature_agree_on_every_built_in(registry):
    """``--dry-run`` reads declarations from source (no torch); the build reads the imported
    signature: both must see the same types, limits, Literals and defaults."""
    from itr_bench.lazy_import import LazyFactory
    from itr_bench.options import from_callable, read_source
    from itr_bench.registry import FIXED_ARGUMENTS

    compared = 0
    for info in registry.list():
        if info.plugin not in BUILT_IN or not isinstance(info.factory, LazyFactory):
            continue
        read = read_source(info.factory.target, FIXED_ARGUMENTS[info.kind])
        assert read is not None, f"{info.label}: its source cannot be read without importing it"
        imported = from_callable(info.factory.resolve(), FIXED_ARGUMENTS[info.kind])
        assert [(o.name, o.type, o.default) for o in read[0]] == [(o.name, o.type, o.default) for o in imported], \
            info.label
        compared += len(imported)
    assert compared >= 60
