"""Deactivating neurons: the weight form and the per-row hook form.

Zeroing neuron k of a layer is exactly zeroing the weights that read it in the down projection
(column k of ``down_proj``/``dense_4h_to_h``, row k of GPT-2's transposed ``c_proj``); zeroing a row
of the up projection is not (its bias still flows). Two forms:

- ``deactivated(adapter, mask)``: zero those weights for the duration of a ``with`` block, no cost
  per token; the weights are restored on exit, also when the block raises;
- ``row_masks(adapter, table, ids)``: each batch row's neurons are multiplied by its own mask row
  (``table[ids[b]]``), so one batch can carry different deactivations. On CUDA the activation itself
  is replaced by ``lfe.kernels.masked_activation`` (one Triton pass); elsewhere hooks multiply the
  neurons after the activation.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np
import torch

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from lfe.models.families.base import FamilyAdapter


def _layer_masks(mask: ArrayLike, n_layers: int, n_neurons: int) -> np.ndarray:
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (n_layers * n_neurons,):
        raise ValueError(f"mask has shape {mask.shape}, expected ({n_layers * n_neurons},)")
    return mask.reshape(n_layers, n_neurons)


@contextmanager
def deactivated(adapter: FamilyAdapter, mask: ArrayLike) -> Iterator[None]:
    """Zero the down-projection weights of the neurons where ``mask`` [layers x neurons] is True."""
    saved = []
    try:
        with torch.no_grad():
            for layer, off in enumerate(_layer_masks(mask, adapter.n_layers, adapter.n_neurons)):
                if not off.any():
                    continue
                weight = adapter.deactivation_modules[layer].weight
                index = torch.as_tensor(np.flatnonzero(off), device=weight.device)
                saved.append(
                    (weight, index, weight.index_select(adapter.deactivation_dim, index).clone())
                )
                weight.index_fill_(adapter.deactivation_dim, index, 0)
        yield
    finally:
        with torch.no_grad():
            for weight, index, values in saved:
                weight.index_copy_(adapter.deactivation_dim, index, values)


@contextmanager
def row_masks(
    adapter: FamilyAdapter, table: ArrayLike, ids: torch.Tensor, fused: bool | None = None
) -> Iterator[None]:
    """Multiply each batch row b's neurons by ``table[ids[b]]`` (1 keeps, 0 deactivates) in every
    layer.

    ``table`` is [masks, layers x neurons] (True/1 = keep); ``ids`` is [batch] int, or [1] to give
    every row the same mask. ``fused``: replace the activation by the masked-activation kernel
    (default: where it runs as the Triton kernel, i.e. on CUDA), or False for hooks after it.
    """
    keep = torch.as_tensor(np.asarray(table), dtype=torch.float32)
    keep = keep.reshape(keep.shape[0], adapter.n_layers, adapter.n_neurons)  # [M, L, K]
    kind = adapter.activation_kind
    # one pass where the Triton kernel runs; on CPU HF's own activation and a multiply are faster
    if fused is None:
        from lfe.kernels import use_triton

        fused = kind is not None and use_triton(next(adapter.model.parameters()))
    if fused and kind is None:
        raise ValueError(
            f"{adapter.name} with this activation has no fused masked form; pass fused=False"
        )
    if fused is False or kind is None:

        def scale(layer: int, x: torch.Tensor) -> torch.Tensor:  # x [B, T, K]
            # [B, K], or [1, K] for every row
            rows = keep[ids.cpu(), layer].to(device=x.device, dtype=x.dtype)
            return x * rows[:, None, :]

        with adapter.on_neurons(scale):
            yield
        return
    with _fused_activations(adapter, kind, keep, ids):
        yield


@contextmanager
def _fused_activations(
    adapter: FamilyAdapter, kind: str, keep: torch.Tensor, ids: torch.Tensor
) -> Iterator[None]:
    """Each layer's activation computed by the masked-activation kernel with its mask rows."""
    from lfe.kernels import masked_activation

    tables = {}

    def activate_in(layer: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        def activate(x: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
            # this layer's [M, K] table, moved to the device once
            if (layer, x.device) not in tables:
                tables[layer, x.device] = keep[:, layer].to(x.device)
            row_ids = ids.to(x.device).expand(x.shape[0]) if ids.numel() == 1 else ids.to(x.device)
            return masked_activation(kind, x, up, tables[layer, x.device], row_ids)

        return activate

    with adapter.activations_replaced(activate_in):
        yield
