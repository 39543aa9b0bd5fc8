"""Deactivating neurons: the weight form and the per-row hook form.

Zeroing neuron k of a layer is exactly zeroing the weights that read it in the down projection
(column k of ``down_proj``/``dense_4h_to_h``, row k of GPT-2's transposed ``c_proj``); zeroing a row
of the up projection is not (its bias still flows). Two forms:

- ``deactivated(adapter, mask)``: zero those weights for the duration of a ``with`` block, no cost
  per token; the weights are restored on exit, also when the block raises;
- ``row_masks(adapter, table, ids)``: hooks multiply each batch row's neurons by its own mask row
  (``table[ids[b]]``), so one batch can carry different deactivations.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch


def _layer_masks(mask, n_layers: int, n_neurons: int) -> np.ndarray:
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (n_layers * n_neurons,):
        raise ValueError(f"mask has shape {mask.shape}, expected ({n_layers * n_neurons},)")
    return mask.reshape(n_layers, n_neurons)


@contextmanager
def deactivated(adapter, mask):
    """Zero the down-projection weights of the neurons where ``mask`` [layers x neurons] is True."""
    saved = []
    try:
        with torch.no_grad():
            for layer, off in enumerate(_layer_masks(mask, adapter.n_layers, adapter.n_neurons)):
                if not off.any():
                    continue
                weight = adapter.deactivation_modules[layer].weight
                index = torch.as_tensor(np.flatnonzero(off), device=weight.device)
                saved.append((weight, index, weight.index_select(adapter.deactivation_dim, index).clone()))
                weight.index_fill_(adapter.deactivation_dim, index, 0)
        yield
    finally:
        with torch.no_grad():
            for weight, index, values in saved:
                weight.index_copy_(adapter.deactivation_dim, index, values)


@contextmanager
def row_masks(adapter, table, ids: torch.Tensor):
    """Multiply each batch row b's neurons by ``table[ids[b]]`` (1 keeps, 0 deactivates) in every layer.

    ``table`` is [masks, layers x neurons] (True/1 = keep); ``ids`` is [batch] int, or [1] to give
    every row the same mask.
    """
    keep = torch.as_tensor(np.asarray(table), dtype=torch.float32)
    keep = keep.reshape(keep.shape[0], adapter.n_layers, adapter.n_neurons)  # [M, L, K]

    def scale(layer: int, x: torch.Tensor) -> torch.Tensor:  # x [B, T, K]
        rows = keep[ids.cpu(), layer].to(device=x.device, dtype=x.dtype)  # [B, K], or [1, K] for every row
        return x * rows[:, None, :]

    with adapter.on_neurons(scale):
        yield
