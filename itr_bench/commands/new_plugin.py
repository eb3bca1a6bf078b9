"""``itr-bench new-plugin {loss,dataset,encoder,tracker} NAME``: a ready-to-install plugin package.

The package is rendered from ``itr_bench/templates/``: ``common/`` (pyproject.toml with the
``itr_bench`` entry point) plus one folder per kind (the module with its hookimpl and a working
component to edit, a README, and tests that use :mod:`itr_bench.testing`). Template files end in
``.tmpl`` and use ``string.Template`` placeholders (``${name}``); ``__module__`` in a path becomes
the module name and a leading ``dot-`` a dot. The folder is written next to its destination and
renamed into place, so a failure never leaves half a package behind.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import os
import re
import shutil
import string
import tempfile
from dataclasses import dataclass
from pathlib import Path

import click

from ..errors import ItrBenchError
from ..registry import plural
from . import App

#: Plugin names: lower-case words joined by single '-' or '_' (they become a registry name, a
#: distribution ``itr-bench-NAME`` and a module ``itr_bench_NAME``).
NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")


@dataclass(frozen=True)
class Scaffold:
    """What one kind of plugin is made of."""

    template: str  # folder under itr_bench/templates
    registry_kind: str
    hook: str
    class_suffix: str
    description: str


#: What each `new-plugin KIND` (with `--modality` for encoders) writes.
SCAFFOLDS: dict[str, Scaffold] = {
    "loss": Scaffold(
        "loss", "loss", "register_losses", "Loss", "A bidirectional hinge loss on cosine similarity"),
    "dataset": Scaffold(
        "dataset", "dataset", "register_datasets", "Dataset", "Images and captions from a local captions.tsv"),
    "image-encoder": Scaffold(
        "encoder-image", "image_encoder", "register_image_encoders", "ImageEncoder",
        "A timm CNN trunk with a linear projection"),
    "text-encoder": Scaffold(
        "encoder-text", "text_encoder", "register_text_encoders", "TextEncoder",
        "A bag of learned word embeddings with a linear projection"),
    "tracker": Scaffold(
        "tracker", "tracker", "register_trackers", "Tracker", "A CSV file of every logged value in the run folder"),
}


@click.command("new-plugin", short_help="Create a ready-to-install plugin package with its tests.")
@click.argument("kind", type=click.Choice(["loss", "dataset", "encoder", "tracker"]))
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Where to create the itr-bench-NAME folder.")
@click.option("--modality", type=click.Choice(["image", "text"]), default=None,
              help="For encoders: an image (default) or a text encoder.")
@click.pass_obj
def command(app: App, kind: str, name: str, directory: Path, modality: str | None) -> None:
    """Create a plugin package for a new KIND called NAME, ready to `pip install -e`.

    It holds pyproject.toml with the itr_bench entry point, a module with the hook and a working
    component to edit, a README, and tests that run itr-bench's test kit on it.

    Examples:

    \b
      itr-bench new-plugin loss my-hinge
      itr-bench new-plugin encoder my-bow --modality text --dir plugins
      itr-bench new-plugin tracker my-csv
    """
    if modality is not None and kind != "encoder":
        raise click.UsageError(f"--modality applies to encoders, not to a {kind}")
    modality = modality or "image"
    scaffold = SCAFFOLDS[f"{modality}-encoder" if kind == "encoder" else kind]
    check_name(app, scaffold, name)
    target = directory / f"itr-bench-{name}"
    if target.exists():
        raise ItrBenchError(f"{target}: already exists; choose another NAME or --dir (nothing was written)")
    written = render(scaffold, placeholders(kind, modality, name, scaffold), target)
    click.echo(f"created {target}/ ({kind} {name!r}, module {module_name(name)}):")
    for path in written:
        click.echo(f"  {path.relative_to(target)}")
    click.echo("next:")
    click.echo(f"  pip install -e {target}")
    click.echo(f"  itr-bench list {plural(scaffold.registry_kind)}    # shows {name}")
    click.echo(f"  python -m pytest {target}")


def module_name(name: str) -> str:
    return "itr_bench_" + name.replace("-", "_")


def check_name(app: App, scaffold: Scaffold, name: str) -> None:
    """One-line errors for a name that is malformed, taken, or whose module already exists."""
    if not NAME.match(name):
        raise ItrBenchError(
            f"plugin name {name!r}: use lower-case letters and digits, words joined by '-' or '_', "
            "starting with a letter (e.g. my-hinge)"
        )
    if (scaffold.registry_kind, name) in app.registry:
        owner = app.registry.get(scaffold.registry_kind, name).plugin
        raise ItrBenchError(
            f"plugin name {name!r}: {scaffold.registry_kind.replace('_', ' ')} {name!r} is already "
            f"registered by plugin {owner!r}; choose another name"
        )
    module = module_name(name)
    if importlib.util.find_spec(module) is not None:
        raise ItrBenchError(f"plugin name {name!r}: a module {module!r} is already importable; choose another name")


def placeholders(kind: str, modality: str, name: str, scaffold: Scaffold) -> dict[str, str]:
    from .. import __version__

    words = re.split(r"[-_]", name)
    pin = f'"itr-bench>={__version__}"' if re.match(r"^\d+(\.\d+)*$", __version__) else '"itr-bench"'
    return {
        "kind": kind,
        "modality": modality,
        "name": name,
        "term": name.replace("-", "_"),
        "module": module_name(name),
        "distribution": f"itr-bench-{name}",
        "class_name": "".join(w.capitalize() for w in words) + scaffold.class_suffix,
        "hook": scaffold.hook,
        "description": scaffold.description,
        "dependencies": pin,
    }


def render(scaffold: Scaffold, values: dict[str, str], target: Path) -> list[Path]:
    """Write the rendered templates into ``target``, all at once (via a sibling temporary folder)."""
    templates = importlib.resources.files("itr_bench") / "templates"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a package folder is an ordinary one
    written = []
    try:
        for folder in ("common", scaffold.template):
            with importlib.resources.as_file(templates / folder) as root:
                for source in sorted(root.rglob("*.tmpl")):
                    relative = _output_path(source.relative_to(root), values["module"])
                    text = string.Template(source.read_text(encoding="utf-8")).substitute(values)
                    (staging / relative).parent.mkdir(parents=True, exist_ok=True)
                    (staging / relative).write_text(text, encoding="utf-8")
                    written.append(target / relative)
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(written)


def _output_path(relative: Path, module: str) -> Path:
    parts = [part.replace("__module__", module) for part in relative.with_suffix("").parts]
    parts[-1] = "." + parts[-1][len("dot-"):] if parts[-1].startswith("dot-") else parts[-1]
    return Path(*parts)
