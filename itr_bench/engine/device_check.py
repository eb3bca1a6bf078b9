"""A device the run names must exist here: said in one line, never a crash deep in torch.

``torch.device("cuda:99")`` succeeds whatever the machine; the failure comes at the first
tensor moved there, as a RuntimeError that reads like a bug of itr-bench. ``meta`` holds shapes
only, no numbers, so nothing can be trained or scored on it.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError


def check_device(device: torch.device, name: str) -> torch.device:
    """``device`` if this machine has it, else one :class:`ConfigError` line naming ``name``."""
    if device.type == "meta":
        raise ConfigError(f"device {name!r}: the meta device holds no data, so nothing can train on it; "
                          "use 'auto', 'cpu' or 'cuda'")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device {name!r}: no CUDA GPU is available here (torch {torch.__version__}, "
                              f"CUDA build {torch.version.cuda or 'none'}); use 'auto' or 'cpu'")
        if device.index is not None and device.index >= count:
            raise ConfigError(f"device {name!r}: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {name!r}: Apple's MPS is not available here; use 'auto' or 'cpu'")
    return device
