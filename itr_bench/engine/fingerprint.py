"""Short digests of tensors, so a record can prove two runs started from the same point.

Paired seeds are the basis of the leaderboard's paired comparisons: seed k of every run in a
suite must start from the same encoder weights and see the same batches. A run record stores
the digest of its encoders' initial state and of its first training batch; comparing two
records' digests checks the pairing without keeping any tensor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import torch
from torch import Tensor, nn


def digest(tensors: Iterable[Tensor]) -> str:
    """SHA-256 (16 hex digits) over the tensors' dtypes, shapes and bytes, in order."""
    sha = hashlib.sha256()
    for tensor in tensors:
        tensor = tensor.detach().cpu().contiguous()
        sha.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
        sha.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return sha.hexdigest()[:16]


def module_digest(module: nn.Module) -> str:
    """Digest of every parameter and buffer (BN statistics included), by name order."""
    state = module.state_dict()
    return digest(state[name] for name in sorted(state))
