"""Hooks that mean-pool every layer's neurons on the device, inside the forward pass."""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING

import torch

from lfe.kernels import masked_mean_pool, masked_positive_count

if TYPE_CHECKING:
    from typing import Any

    from lfe.models.families.base import FamilyAdapter


class PoolingHooks:
    """Pool each layer's neurons into ``out[:B, layer]`` during a forward pass.

    ``out`` is a preallocated [max_batch, layers, neurons] float32 buffer on the model's device;
    only it leaves the device, once per batch. Use as a context manager: the hooks are removed in
    ``__exit__`` even when the forward pass raises.
    """

    def __init__(
        self, adapter: FamilyAdapter, out: torch.Tensor, counts: torch.Tensor | None = None
    ) -> None:
        self.adapter = adapter
        self.out = out  # [max_batch, L, K]
        # [max_batch, L, K] int32: pooled tokens where each neuron fired, or None
        self.counts = counts
        self.mask: torch.Tensor | None = None  # [B, T]

    def set_batch(self, mask: torch.Tensor) -> torch.Tensor:
        """Use ``mask`` [B, T] for the next forward; returns the [B, L, K] view it will fill."""
        self.mask = mask
        return self.out[: mask.shape[0]]

    def _pool(self, layer: int, neurons: torch.Tensor) -> None:
        assert self.mask is not None, "set_batch before the forward pass"
        masked_mean_pool(neurons, self.mask, out=self.out[: self.mask.shape[0], layer])  # [B, K]

    def _count(self, layer: int, values: torch.Tensor) -> None:
        assert self.mask is not None
        assert self.counts is not None
        self.counts[: self.mask.shape[0], layer] = masked_positive_count(values, self.mask)

    def __enter__(self) -> "PoolingHooks":
        self._hooks = ExitStack()
        self._hooks.enter_context(self.adapter.on_neurons(self._pool))
        if self.counts is not None:  # at the family's firing point (act(gate) in gated MLPs)
            self._hooks.enter_context(self.adapter.on_firing(self._count))
        return self

    def __exit__(self, *exc: Any) -> None:
        self._hooks.__exit__(*exc)
