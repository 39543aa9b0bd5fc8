"""Launch settings and the choice between the Triton and torch paths, in one place."""

from __future__ import annotations

import importlib.util
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

HAS_TRITON = importlib.util.find_spec("triton") is not None
PATHS = ("auto", "torch", "triton")


def block_size(n: int, cap: int) -> int:
    """The next power of two >= n (Triton needs power-of-two blocks), at most ``cap``, at least
    16."""
    return max(16, min(cap, 1 << max(0, (n - 1).bit_length())))


def use_triton(tensor: torch.Tensor) -> bool:
    """Triton for CUDA tensors when it is installed; ``LFE_KERNELS=torch|triton`` forces a path.

    Forcing ``triton`` on CPU tensors needs Triton's interpreter (``TRITON_INTERPRET=1``, set before
    the kernels are imported); that is how the kernels are tested without a GPU.
    """
    forced = os.environ.get("LFE_KERNELS", "auto")
    if forced not in PATHS:
        raise ValueError(f"LFE_KERNELS={forced!r} is not one of {', '.join(PATHS)}")
    if forced == "triton" and not HAS_TRITON:
        raise RuntimeError("LFE_KERNELS=triton, but Triton is not installed: pip install triton")
    if forced != "auto":
        return forced == "triton"
    return HAS_TRITON and tensor.device.type == "cuda"
