"""The hot loops of lfe behind one device-independent API.

Callers never branch on the device: each function picks Triton for CUDA tensors (when Triton is
installed) and the torch reference elsewhere; ``LFE_KERNELS=torch|triton`` forces a path. The
Triton module is imported only when first used, so ``import lfe`` never imports Triton.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from lfe.kernels._settings import HAS_TRITON, use_triton
from lfe.kernels.reference import (
    ACTIVATIONS,
    grouped_column_stats_torch,
    masked_activation_torch,
    masked_mean_pool_torch,
    masked_positive_count_torch,
    packed_mean_pool_torch,
    packed_positive_count_torch,
)

if TYPE_CHECKING:
    import torch


def _triton() -> ModuleType:
    from lfe.kernels import triton_kernels

    return triton_kernels


def masked_mean_pool(
    x: torch.Tensor, mask: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-sample mean of ``x`` [B, T, K] over the tokens where ``mask`` [B, T] is set -> [B, K]
    float32."""
    if use_triton(x):
        return _triton().masked_mean_pool_triton(x, mask, out)
    return masked_mean_pool_torch(x, mask, out)


def masked_positive_count(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-sample count of the tokens where ``mask`` [B, T] is set and ``x`` [B, T, K] > 0 -> [B, K]
    int32."""
    if use_triton(x):
        return _triton().masked_positive_count_triton(x, mask)
    return masked_positive_count_torch(x, mask)


def packed_mean_pool(x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Per-sample mean of packed rows ``x`` [tokens, K], sample s = rows offsets[s]:offsets[s+1] ->
    [S, K]."""
    if use_triton(x):
        return _triton().packed_mean_pool_triton(x, offsets)
    return packed_mean_pool_torch(x, offsets)


def packed_positive_count(x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Per-sample count of packed rows ``x`` [tokens, K] > 0, sample s = rows
    offsets[s]:offsets[s+1] -> [S, K] int32."""
    if use_triton(x):
        return _triton().packed_positive_count_triton(x, offsets)
    return packed_positive_count_torch(x, offsets)


def grouped_column_stats(
    a: torch.Tensor, groups: torch.Tensor, n_groups: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(Σa, Σa², Σ_{i<j} a_i a_j) per group and column of ``a`` [n, K], groups [n] -> three [G,
    K]."""
    if use_triton(a):
        return _triton().grouped_column_stats_triton(a, groups, n_groups)
    return grouped_column_stats_torch(a, groups, n_groups)


def masked_activation(
    kind: str, x: torch.Tensor, up: torch.Tensor | None, table: torch.Tensor, ids: torch.Tensor
) -> torch.Tensor:
    """act(x) [* up] with each batch row's neurons multiplied by ``table[ids[row]]``."""
    if use_triton(x):
        return _triton().masked_activation_triton(kind, x, up, table, ids)
    return masked_activation_torch(kind, x, up, table, ids)


__all__ = [
    "ACTIVATIONS",
    "HAS_TRITON",
    "grouped_column_stats",
    "masked_activation",
    "masked_mean_pool",
    "masked_positive_count",
    "packed_mean_pool",
    "packed_positive_count",
    "use_triton",
]
