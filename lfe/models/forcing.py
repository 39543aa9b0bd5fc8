"""Neurons forced to given values at every position: steering (Kojima et al.'s intervention), and
deactivation where there is no weight to zero (vLLM's CPU build prepacks its projections).

The hook form, on any adapter with ``on_neurons`` (transformers' or vLLM's model classes); the fused
masked-activation kernel only scales neurons."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

import numpy as np
import torch

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from lfe.models.families.base import NeuronSite


@contextmanager
def forced(adapter: NeuronSite, mask: ArrayLike, values: ArrayLike) -> Iterator[None]:
    """Set the neurons where ``mask`` [layers x neurons] is True to ``values`` [layers x neurons],
    at every position of every forward pass in the block; an empty mask leaves the model untouched
    (no hook)."""
    shape = (adapter.n_layers, adapter.n_neurons)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (shape[0] * shape[1],):
        raise ValueError(f"mask has shape {mask.shape}, expected ({shape[0] * shape[1]},)")
    layer_masks, layer_values = (
        mask.reshape(shape),
        np.asarray(values, dtype=np.float32).reshape(shape),
    )
    per_layer = {
        layer: (torch.as_tensor(np.flatnonzero(on)), torch.as_tensor(layer_values[layer, on]))
        for layer, on in enumerate(layer_masks)
        if on.any()
    }
    if not per_layer:
        yield
        return
    moved: dict = {}

    def force(layer: int, neurons: torch.Tensor) -> torch.Tensor | None:
        if layer not in per_layer:
            return None
        if (layer, neurons.device, neurons.dtype) not in moved:
            index, value = per_layer[layer]
            moved[layer, neurons.device, neurons.dtype] = (
                index.to(neurons.device),
                value.to(neurons.device, neurons.dtype),
            )
        index, value = moved[layer, neurons.device, neurons.dtype]
        neurons = neurons.clone()
        neurons[..., index] = value
        return neurons

    with adapter.on_neurons(force):
        yield
