"""``itr-bench evaluate CHECKPOINT --dataset NAME --root DIR``: score a trained model on a split."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import App, parse_option


@click.command("evaluate")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--dataset", required=True, help="Registered dataset name.")
@click.option("--root", type=click.Path(path_type=Path), default=None, help="The dataset's local folder.")
@click.option("--split", default="test", show_default=True, help="Which split to score.")
@click.option("--option", "-o", "options", multiple=True, help="Dataset option KEY=VALUE (repeatable).")
@click.option("--tta", is_flag=True, help="Test-time augmentation (image flip, sentence shifts).")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.pass_obj
def command(app: App, checkpoint: Path, dataset: str, root: Path | None, split: str, options: tuple[str, ...],
            tta: bool, as_json: bool) -> None:
    """Score CHECKPOINT (a run folder or its best/ or last/ checkpoint) on a dataset split.

    The model is rebuilt from the run config stored in the checkpoint (its vocabulary comes
    from the training split the run was trained on, so that data must still be at its root).
    """
    from ..config import RunConfig, build
    from ..engine.checkpoint import load_checkpoint
    from ..engine.evaluate import evaluate
    from ..engine.feeding import CaptionTokens
    from ..data.prepare import default_cache_dir, prepare
    from ..engine.run import build as build_run, create_component, resolve_device
    from .train import format_metrics

    folder = checkpoint / "best" if (checkpoint / "best").is_dir() else checkpoint
    components, state = load_checkpoint(folder)
    where = str(folder)
    config = build(RunConfig, state.get("config", {}), f"{where}/state.json config")
    built = build_run(config, app.registry, where)
    built.model.load_state_dict(components["model"])
    device = resolve_device(config.device)
    model = built.model.to(device)
    source = create_component(app.registry, "dataset", dataset, "--dataset", root, **dict(map(parse_option, options)))
    cache = Path(config.cache_dir).expanduser() if config.cache_dir else default_cache_dir()
    prepared = prepare(source, cache, config.image_size)
    target = prepared.split(split)
    tokens = CaptionTokens.build(target.table["captions"], model.text.tokenizer)
    metrics = evaluate(model, target, tokens, image_size=config.image_size, batch_size=max(config.batch_size, 64),
                       device=device, tta=tta, transform=config.test_transform)
    click.echo(json.dumps(metrics, indent=2) if as_json else format_metrics(f"{source.label(dataset)} {split}", metrics))
