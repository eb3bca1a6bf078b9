"""Plant weight files where the Hugging Face hub cache keeps them (test support; no network).

ImageNet weights cannot be downloaded in tests. ``plant_timm_weights`` saves a timm model's
random weights as ``model.safetensors`` in the hub cache layout timm's download would create
(``models--<org>--<name>/snapshots/<revision>/`` plus ``refs/main``), so every lookup that
finds real downloaded weights finds these.
"""

from __future__ import annotations

from pathlib import Path

import torch

#: Any 40-hex revision: the cache layout only needs refs/main to name the snapshot folder.
REVISION = "0" * 40


def plant_hub_file(cache: Path, repo_id: str, state: dict[str, torch.Tensor],
                   filename: str = "model.safetensors") -> Path:
    """Save ``state`` as ``filename`` of model repo ``repo_id`` in the hub cache ``cache``."""
    from safetensors.torch import save_file

    repo = Path(cache) / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / REVISION
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(REVISION)
    path = snapshot / filename
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def plant_timm_weights(cache: Path, model_name: str, seed: int = 0) -> tuple[Path, dict[str, torch.Tensor]]:
    """Random weights of timm ``model_name`` planted under the hub repo timm loads it from."""
    import timm

    cfg = timm.models.get_pretrained_cfg(model_name)
    assert cfg is not None and cfg.hf_hub_id, f"timm {model_name!r} has no hub weights"
    torch.manual_seed(seed)
    state = {k: v for k, v in timm.create_model(model_name, pretrained=False).state_dict().items()}
    return plant_hub_file(cache, cfg.hf_hub_id, state), state
