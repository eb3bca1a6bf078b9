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


def _arrays(path: Path, owner: str, members: dict[str, Any]) -> dict[str, Any]:
    """The members of a ``.npz``, each checked to be a numeric array: NumPy hands back any other
    file of the zip as raw bytes, which only fails later, far from the file."""
    import numpy as np

    for key, value in members.items():
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
            kind = "bytes that are not a .npy array" if isinstance(value, bytes) else f"an array of {value.dtype}"
            raise ItrBenchError(f"{owner}: {str(path)!r} is not a NumPy weights archive: its member {key!r} holds "
                                f"{kind} (a .npz of weights holds numeric .npy arrays, as numpy.savez writes)")
    return members


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
                return _arrays(path, owner, {key: archive[key] for key in archive.files})
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
