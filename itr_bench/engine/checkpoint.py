"""Checkpoints as safetensors plus a JSON state; loading never unpickles code.

A checkpoint is a folder with ``tensors.safetensors`` (model, loss and optimizer tensors) and
``state.json`` (everything else: epoch, stage, RNG seeds, metrics, optimizer hyperparameters).
Nested state (an optimizer's ``state_dict``) is stored by replacing every tensor with a
``{"__tensor__": key}`` reference. Both files are written to a temporary folder that is renamed
into place, so a run killed mid-save keeps its previous checkpoint. A save that fails (a full
disk) raises an :class:`OSError` naming the folder and leaves the previous checkpoint intact.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from ..errors import DamagedRunError
from ..store.record import CHECKPOINT_STATE, CHECKPOINT_TENSORS

TENSORS, STATE = CHECKPOINT_TENSORS, CHECKPOINT_STATE
_REF = "__tensor__"


def flatten(obj: Any, prefix: str, tensors: dict[str, Tensor]) -> Any:
    """``obj`` with each tensor moved into ``tensors`` under a dotted key and replaced by a reference."""
    if isinstance(obj, Tensor):
        # clone: safetensors refuses tensors that share storage (tied weights, views)
        tensors[prefix] = obj.detach().to("cpu").contiguous().clone()
        return {_REF: prefix}
    if isinstance(obj, dict):
        return {"__dict__": [[_key(k), flatten(v, f"{prefix}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [flatten(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)],
                "tuple": isinstance(obj, tuple)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} at {prefix} in a checkpoint")


def unflatten(obj: Any, tensors: dict[str, Tensor]) -> Any:
    """Inverse of :func:`flatten`."""
    if isinstance(obj, dict):
        if _REF in obj:
            return tensors[obj[_REF]]
        if "__dict__" in obj:
            return {_unkey(k): unflatten(v, tensors) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            items = [unflatten(v, tensors) for v in obj["__list__"]]
            return tuple(items) if obj.get("tuple") else items
    return obj


def _key(key: Any) -> Any:
    # optimizer state dicts key parameters by int; JSON keeps the type this way
    return {"int": key} if isinstance(key, int) else key


def _unkey(key: Any) -> Any:
    return key["int"] if isinstance(key, dict) else key


def save_checkpoint(folder: Path | str, components: dict[str, Any], state: dict[str, Any]) -> Path:
    """Atomically write ``components`` (name -> state_dict-like) and JSON-able ``state``."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, Tensor] = {}
    skeleton = {name: flatten(value, name, tensors) for name, value in components.items()}
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(folder)) from None
    try:
        try:
            save_file(tensors, str(tmp / TENSORS))
        except SafetensorError as exc:  # its I/O errors are not OSErrors: say which
            code = re.search(r"os error (\d+)", str(exc))
            raise OSError(int(code[1]) if code else errno.EIO, str(exc), str(folder)) from None
        with open(tmp / STATE, "w") as handle:
            json.dump({"state": state, "components": skeleton}, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        old = folder.with_name(f".{folder.name}.old")
        if folder.exists():
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and exc.filename != str(folder):
            raise OSError(exc.errno, exc.strerror or str(exc), str(folder)) from None
        raise
    return folder


def load_checkpoint(folder: Path | str, device: str | torch.device = "cpu") -> tuple[dict[str, Any], dict[str, Any]]:
    """``(components, state)`` as saved; a missing or damaged checkpoint is a :class:`DamagedRunError`.

    Its message names the checkpoint folder, so the caller can say which one to delete.
    """
    folder = Path(folder)
    previous = folder.with_name(f".{folder.name}.old")
    if not folder.exists() and previous.exists():  # killed between the two renames of a save
        folder = previous
    missing = [name for name in (TENSORS, STATE) if not (folder / name).is_file()]
    if missing:
        raise DamagedRunError(f"{folder}: not a checkpoint (missing {', '.join(missing)})")
    try:
        tensors = load_file(str(folder / TENSORS), device=str(device))
        with open(folder / STATE, encoding="utf-8") as handle:
            data = json.load(handle)
        components = {name: unflatten(value, tensors) for name, value in data["components"].items()}
        state = data["state"]
        if not isinstance(state, dict):
            raise TypeError(f"'state' is {type(state).__name__}, not an object")
    except (SafetensorError, ValueError, OSError, KeyError, TypeError, AttributeError) as exc:
        # ValueError covers bad JSON and non-UTF-8 bytes; KeyError/TypeError a valid JSON of the wrong shape
        cause = f"missing key {exc}" if isinstance(exc, KeyError) else " ".join(str(exc).split())
        raise DamagedRunError(f"{folder}: damaged checkpoint ({type(exc).__name__}: {cause})") from None
    return components, state
