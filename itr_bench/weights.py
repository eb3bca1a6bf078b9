"""Reading weight files a user names (``checkpoint = "..."``) without ever running code from them.

A PyTorch ``.pt``/``.pth``/``.bin`` file is a pickle: unpickled in full, it can call any Python
function. Weights are therefore read as safetensors, as a NumPy archive without pickles, or
with ``torch.load(weights_only=True)``, whose restricted unpickler accepts tensors and plain
containers only and refuses everything else before calling it.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

from .errors import ItrBenchError

SAFETENSORS = (".safetensors",)
NUMPY = (".npz",)


def read_weights(path: Path | str, owner: str) -> Any:
    """The tensors stored in ``path`` (a state dict, or the nested dict a training checkpoint holds).

    Anything that is not plain weights is one :class:`ItrBenchError` naming ``owner`` and the file.
    """
    path = Path(path)
    if not path.is_file():
        raise ItrBenchError(f"{owner}: weights file {str(path)!r} does not exist")
    name = path.name.lower()
    from safetensors import SafetensorError

    try:
        if name.endswith(SAFETENSORS):
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        if name.endswith(NUMPY):
            import numpy as np

            with np.load(path, allow_pickle=False) as archive:
                return {key: archive[key] for key in archive.files}
        import torch

        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ItrBenchError(
            f"{owner}: {str(path)!r} is not a plain weights file and was not loaded (unpickling it could run "
            f"code; save the state dict with safetensors or torch.save of tensors only): {first}"
        ) from None
    except (OSError, ValueError, RuntimeError, EOFError, zipfile.BadZipFile, SafetensorError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ItrBenchError(f"{owner}: cannot read weights file {str(path)!r}: {first[:300]}") from None
