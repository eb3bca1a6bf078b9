"""``itr-bench evaluate RUN``: score a trained model on a split of the run's own dataset (or another)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click

from ..data.cache_location import CACHE_LOOKUP
from . import App, dataset_options_flag


@click.command("evaluate", short_help="Score a trained run on a split of its dataset or another.")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--dataset", default=None, help="Registered dataset name (default: the run's own).")
@click.option("--root", type=click.Path(path_type=Path), default=None,
              help="The dataset's local folder (default: the run's, for the run's dataset).")
@click.option("--split", default="test", show_default=True, help="Which split to score.")
@dataset_options_flag("Dataset option (repeatable); overrides the run's own options for its dataset.")
@click.option("--tta", is_flag=True, help="Test-time augmentation (image flip, sentence shifts).")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help=f"Where prepared data is cached (default: {CACHE_LOOKUP}; never the run folder's own setting).")
@click.pass_obj
def command(app: App, checkpoint: Path, dataset: str | None, root: Path | None, split: str, options: dict[str, Any],
            tta: bool, as_json: bool, cache_dir: Path | None) -> None:
    """Score CHECKPOINT (a run folder or its best/ or last/ checkpoint) on a dataset split.

    The model is rebuilt from the run config stored in the checkpoint (its vocabulary comes
    from the training split the run was trained on, so that data must still be at its root).
    By default the run's own dataset is scored with the run's own options (size, split, ...);
    --dataset, --root and -o override them, and the line on stderr says what was scored.
    Prepared data is cached under --cache-dir, never where the checkpoint's config says: a
    downloaded run folder does not choose where this machine writes.
    Scoring the run's own test split as the run did (same --tta) also (re)writes the run's
    per-query results (per_query.npz), which 'itr-bench report' reads.

    Examples:

    \b
      itr-bench evaluate runs/my-run --split test --tta
      itr-bench evaluate runs/my-run --dataset flickr30k --root data/flickr30k
    """
    from ..config import RunConfig, build
    from ..data.cache_location import cache_dir as cache_root
    from ..data.prepare import prepare
    from ..engine.checkpoint import load_checkpoint
    from ..engine.evaluate import EvalSettings, evaluate_with_collapse
    from ..engine.run import build as build_run
    from ..engine.run import resolve_device
    from ..feed.feeding import CaptionTokens
    from ..store.per_query import PER_QUERY
    from ..store.record import BEST
    from .train import format_metrics

    folder = checkpoint / BEST if (checkpoint / BEST).is_dir() else checkpoint
    components, state = load_checkpoint(folder)
    where = str(folder)
    config = build(RunConfig, state.get("config", {}), f"{where}/state.json config")
    config = dataclasses.replace(config, cache_dir=str(cache_root(cache_dir)))  # placement: this machine's
    built = build_run(config, app.registry, where)
    load_model_weights(built.model, components, where)
    device = resolve_device(config.device)
    model = built.model.to(device)
    name, source_root, source_options = scored_dataset(config, dataset, root, options)
    if (name, source_root, source_options) == (config.dataset, config.root, config.dataset_options):
        prepared, label = built.prepared, built.dataset_name  # the run's own data, prepared to build the model
    else:
        source = app.registry.build("dataset", name, Path(source_root).expanduser() if source_root else None,
                                    options=source_options, where="--dataset", key="-o")
        prepared, label = prepare(source, cache_root(config.cache_dir), config.image_size), source.label(name)
    target = prepared.split(split)
    click.echo(f"scoring {label} {split} ({len(target)} images) with options "
               f"{json.dumps(source_options, sort_keys=True)}", err=True)
    tokens = CaptionTokens.build(target.table["captions"], model.text.tokenizer)
    own_test = own_test_split(config, name, source_root, source_options, split, tta)
    queries_to = run_folder(folder) / PER_QUERY if own_test else None
    metrics, _ = evaluate_with_collapse(model, target, tokens, EvalSettings.of(config, device, tta=tta),
                                        queries_to=queries_to)
    if queries_to is not None:
        click.echo(f"wrote per-query results to {queries_to}", err=True)
    click.echo(json.dumps(metrics, indent=2) if as_json else format_metrics(f"{label} {split}", metrics))


def scored_dataset(config: Any, dataset: str | None, root: Path | None,
                   options: dict[str, Any]) -> tuple[str, str | None, dict[str, Any]]:
    """Name, root and options of the dataset to score: the run's own, with explicit overrides.

    Another dataset starts from no options (the run's belong to its own dataset).
    """
    own = dataset is None or dataset == config.dataset
    name = config.dataset if own else dataset
    base_root = config.root if own else None
    base_options = dict(config.dataset_options) if own else {}
    return name, str(root) if root is not None else base_root, {**base_options, **options}


def own_test_split(config: Any, name: str, root: str | None, options: dict[str, Any], split: str, tta: bool) -> bool:
    """Whether this scores exactly what the run's test pass scored (so its per-query results may be kept)."""
    return ((name, root, options) == (config.dataset, config.root, dict(config.dataset_options))
            and split == "test" and tta == bool(config.test_time_augmentation))


def run_folder(checkpoint_folder: Path) -> Path:
    """The run folder of a checkpoint folder (``best/`` or ``last/``), or the folder itself."""
    from ..store.record import BEST, LAST

    return checkpoint_folder.parent if checkpoint_folder.name in (BEST, LAST) else checkpoint_folder


def load_model_weights(model, components: dict, where: str) -> None:
    """The checkpoint's ``model`` tensors into ``model``; a missing or mismatched one is one line."""
    from ..errors import ItrBenchError

    weights = components.get("model")
    if not isinstance(weights, dict):
        raise ItrBenchError(f"{where}: damaged checkpoint: it holds no model tensors")
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:  # torch lists every missing, unexpected or mis-shaped tensor
        problems = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()] or [str(exc).strip()]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ItrBenchError(f"{where}: the checkpoint's tensors do not fit the model its config builds: "
                            f"{' '.join(problems[0].split())[:300]}{more}") from None
