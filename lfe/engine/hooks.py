"""Hooks that mean-pool every layer's neurons on the device, inside the forward pass."""

from __future__ import annotations

import torch

from lfe.kernels import masked_mean_pool


class PoolingHooks:
    """Pool each layer's neurons into ``out[:B, layer]`` during a forward pass.

    ``out`` is a preallocated [max_batch, layers, neurons] float32 buffer on the model's device;
    only it leaves the device, once per batch. Use as a context manager: the hooks are removed in
    ``__exit__`` even when the forward pass raises.
    """

    def __init__(self, adapter, out: torch.Tensor):
        self.adapter = adapter
        self.out = out  # [max_batch, L, K]
        self.mask: torch.Tensor | None = None  # [B, T]
        self._handles: list = []

    def set_batch(self, mask: torch.Tensor) -> torch.Tensor:
        """Use ``mask`` [B, T] for the next forward; returns the [B, L, K] view it will fill."""
        self.mask = mask
        return self.out[: mask.shape[0]]

    def _hook(self, layer: int):
        def read_output(module, args, output):
            masked_mean_pool(output, self.mask, out=self.out[: self.mask.shape[0], layer])  # [B, K]

        def read_input(module, args):
            masked_mean_pool(args[0], self.mask, out=self.out[: self.mask.shape[0], layer])  # [B, K]

        return read_output if self.adapter.read == "output" else read_input

    def __enter__(self) -> "PoolingHooks":
        for layer, module in enumerate(self.adapter.neuron_modules):
            hook = self._hook(layer)
            if self.adapter.read == "output":
                self._handles.append(module.register_forward_hook(hook))
            else:
                self._handles.append(module.register_forward_pre_hook(hook))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
