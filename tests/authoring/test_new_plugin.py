"""``itr-bench new-plugin``: what it writes is a complete plugin package whose component passes the
test kit; bad names and existing folders are one-line errors that write nothing."""

from __future__ import annotations

import importlib.resources
import importlib.util
import tomllib

import pytest
from PIL import Image

from itr_bench.api import EncoderContext
from itr_bench.cli import main
from itr_bench.commands.new_plugin import SCAFFOLDS
from itr_bench.plugins import load_registry
from itr_bench.testing import check_dataset, check_encoder, check_loss, check_options

#: (command-line arguments after the kind, registry kind, hook) per scaffold.
CASES = {
    "loss": (["loss", "my-hinge"], "loss", "register_losses"),
    "dataset": (["dataset", "my-data"], "dataset", "register_datasets"),
    "image-encoder": (["encoder", "my-cnn"], "image_encoder", "register_image_encoders"),
    "text-encoder": (["encoder", "my-bag", "--modality", "text"], "text_encoder", "register_text_encoders"),
}


def scaffold(tmp_path, capsys, args):
    assert main(["new-plugin", *args, "--dir", str(tmp_path)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    name = args[1]
    return tmp_path / f"itr-bench-{name}", name, out


def import_module(folder, module_name):
    spec = importlib.util.spec_from_file_location(module_name, folder / f"{module_name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("case", CASES)
def test_writes_an_installable_package(tmp_path, capsys, case):
    args, _, hook = CASES[case]
    folder, name, out = scaffold(tmp_path, capsys, args)
    module = "itr_bench_" + name.replace("-", "_")
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert files == [".gitignore", "README.md", f"{module}.py", "pyproject.toml", f"tests/test_{module}.py"]
    project = tomllib.loads((folder / "pyproject.toml").read_text())
    assert project["project"]["name"] == f"itr-bench-{name}"
    assert project["project"]["entry-points"]["itr_bench"] == {name: module}
    assert project["tool"]["setuptools"]["py-modules"] == [module]
    assert any(dep.startswith("itr-bench") for dep in project["project"]["dependencies"])
    source = (folder / f"{module}.py").read_text()
    assert "@itr_bench.hookimpl" in source and f"def {hook}(register)" in source and "$" not in source
    test_source = (folder / "tests" / f"test_{module}.py").read_text()
    assert "from itr_bench.testing import check_" in test_source and "itr_bench_registry" in test_source
    assert f"pip install -e {folder}" in out and name in (folder / "README.md").read_text()


@pytest.mark.parametrize("case", CASES)
def test_the_scaffolded_component_passes_the_kit(tmp_path, capsys, pm, register_plugin, case):
    args, kind, _ = CASES[case]
    folder, name, _ = scaffold(tmp_path, capsys, args)
    register_plugin(import_module(folder, "itr_bench_" + name.replace("-", "_")), name)
    registry = load_registry(pm)
    assert registry.get(kind, name).plugin == name and registry.get(kind, name).description
    check_options(registry, kind, name)
    assert len(registry.get(kind, name).options) > 0  # the scaffold shows how options are declared
    if kind == "loss":
        check_loss(registry, name)
    elif kind == "dataset":
        check_dataset(registry.create(kind, name, tiny_tsv_dataset(tmp_path / "data")))
    else:
        context = EncoderContext(embed_dim=8, train_captions=("a red box", "a blue dot", "two dogs"))
        check_encoder(registry.create(kind, name, context), kind, image_size=32)


def tiny_tsv_dataset(root):
    (root / "images").mkdir(parents=True)
    lines = []
    for index, (split, colour) in enumerate([("train", "red"), ("train", "blue"), ("val", "green"), ("test", "white")]):
        Image.new("RGB", (4, 4), colour).save(root / "images" / f"{index}.png")
        lines += [f"{split}\t{index}.png\ta {colour} square", f"{split}\t{index}.png\tsomething {colour}"]
    (root / "captions.tsv").write_text("\n".join(lines) + "\n")
    return root


def test_every_scaffold_has_its_templates():
    templates = importlib.resources.files("itr_bench") / "templates"
    for scaffold_ in SCAFFOLDS.values():
        names = {p.name for p in (templates / scaffold_.template).iterdir()}
        assert {"__module__.py.tmpl", "README.md.tmpl", "tests"} <= names, scaffold_.template
    assert (templates / "common" / "pyproject.toml.tmpl").is_file()


def test_refuses_an_existing_folder_and_leaves_it_alone(tmp_path, capsys):
    existing = tmp_path / "itr-bench-my-hinge"
    existing.mkdir()
    (existing / "mine.py").write_text("keep me")
    assert main(["new-plugin", "loss", "my-hinge", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "itr-bench-my-hinge: already exists" in err
    assert [p.name for p in existing.iterdir()] == ["mine.py"] and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("name, message", [
    ("MyLoss", "use lower-case letters"),
    ("1loss", "starting with a letter"),
    ("my--loss", "use lower-case letters"),
    ("my.loss", "use lower-case letters"),
    ("my-", "use lower-case letters"),
    ("my loss", "use lower-case letters"),
    ("infonce", "loss 'infonce' is already registered by plugin 'itr_bench_losses'"),
    ("losses", "a module 'itr_bench_losses' is already importable"),
])
def test_a_bad_name_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, name, message):
    assert main(["new-plugin", "loss", name, "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_name_taken_in_another_kind_is_fine(tmp_path, capsys):
    folder, _, _ = scaffold(tmp_path, capsys, ["dataset", "infonce"])  # datasets and losses are separate namespaces
    assert (folder / "itr_bench_infonce.py").is_file()


def test_an_unknown_kind_is_a_usage_error(tmp_path, capsys):
    assert main(["new-plugin", "sampler", "x", "--dir", str(tmp_path)]) == 2
    assert "'sampler' is not one of 'loss', 'dataset', 'encoder'" in capsys.readouterr().err


def test_modality_is_for_encoders_only(tmp_path, capsys):
    assert main(["new-plugin", "loss", "x", "--modality", "text", "--dir", str(tmp_path)]) == 2
    assert "--modality applies to encoders, not to a loss" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
