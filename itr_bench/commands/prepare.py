"""``itr-bench prepare DATASET --root DIR``: build a dataset's prepared cache once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..data.cache_location import CACHE_LOOKUP
from . import App, dataset_options_flag


@click.command("prepare", short_help="Resize a dataset's images once into the cache runs reuse.")
@click.argument("dataset")
@click.option("--root", type=click.Path(path_type=Path), default=None, help="The dataset's local folder.")
@click.option("--image-size", type=int, default=224, show_default=True, help="Shorter side of the cached images.")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None, help=f"Default: {CACHE_LOOKUP}.")
@dataset_options_flag("Dataset option (repeatable), e.g. -o split=karpathy.")
@click.pass_obj
def command(app: App, dataset: str, root: Path | None, image_size: int, cache_dir: Path | None,
            options: dict[str, Any]) -> None:
    """Resize DATASET's images once into an Arrow cache reused by every later run.

    Examples:

    \b
      itr-bench prepare flickr8k --root data/flickr8k
      itr-bench prepare mscoco --root data/coco --image-size 256 -o split=karpathy
    """
    from ..data.cache_location import cache_dir as resolve_cache_dir
    from ..data.prepare import prepare
    from ..data.stats import dataset_stats

    source = app.registry.build("dataset", dataset, root, options=options, where="prepare", key="-o")
    prepared = prepare(source, resolve_cache_dir(cache_dir), image_size)
    for row in dataset_stats(source):
        click.echo(f"{row['split']:>10}: {row['images']} images, {row['captions']} captions, {row['instances']} instances")
    click.echo(f"prepared {dataset} at {prepared.path}")
