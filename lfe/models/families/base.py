"""The adapter protocol: where one model family keeps its MLP neurons.

An adapter is data plus two small lookups. Required: the module whose output (or input) holds the
neurons (``neuron_module``, ``read``), and the projection that consumes them (``deactivation_module``,
``deactivation_dim``). From these it derives the layer count and neurons per layer of a loaded model.
Optional hooks (``check_config``, ``attn_implementation``) default to doing nothing.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Callable, ClassVar, Literal

from torch import nn

from lfe.errors import ModelError


class FamilyAdapter:
    """Neuron read point and deactivation point of one family, bound to one loaded model.

    Module paths are regexes matched against the end of ``model.named_modules()`` names, with one
    group for the layer index, so wrappers (``model.``, ``transformer.``, ``language_model.``) need
    no special case.
    """

    name: ClassVar[str]
    model_types: ClassVar[tuple[str, ...]]
    neuron_module: ClassVar[str]
    read: ClassVar[Literal["output", "input"]]
    deactivation_module: ClassVar[str]
    deactivation_dim: ClassVar[int]  # weight dimension that indexes the neurons
    attn_implementation: ClassVar[str | None] = None  # None: let transformers choose
    # The module whose forward computes the neurons, replaced by lfe.kernels.masked_activation for
    # per-row deactivation in one pass (None: the family has no fused form and uses hooks).
    activation_module: ClassVar[str | None] = None
    # the config's activation name -> lfe.kernels activation kind (key None: whatever the config says)
    activation_kinds: ClassVar[dict[str | None, str]] = {}
    takes_position_ids: ClassVar[bool] = True  # False: positions come from the mask (ALiBi)
    # Where a neuron "fires" for LAPE (the activation function's output > 0): the module whose output
    # is act(gate) in a gated MLP; None: the neurons themselves (act(fc(x)) in a plain MLP).
    firing_module: ClassVar[str | None] = None

    @classmethod
    def check_config(cls, config) -> None:
        """Raise ``ModelError`` if ``config`` is a variant the read point does not fit."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.neuron_modules = self._layers(self.neuron_module)
        self.deactivation_modules = self._layers(self.deactivation_module)
        if len(self.neuron_modules) != len(self.deactivation_modules):
            raise ModelError(
                f"{self.name}: found {len(self.neuron_modules)} neuron modules but "
                f"{len(self.deactivation_modules)} deactivation modules"
            )
        widths = [m.weight.shape[self.deactivation_dim] for m in self.deactivation_modules]
        if len(set(widths)) != 1:
            raise ModelError(f"{self.name}: layers have different MLP widths {widths}; lfe needs one width")
        self.n_neurons: int = widths[0]

    @property
    def n_layers(self) -> int:
        return len(self.neuron_modules)

    @property
    def activation_kind(self) -> str | None:
        """The lfe.kernels activation of this model, or None when it has no fused form."""
        config = self.model.config
        name = next((getattr(config, key) for key in ("hidden_activation", "hidden_act", "activation_function")
                     if getattr(config, key, None)), None)
        if not self.activation_module:
            return None
        return self.activation_kinds.get(name, self.activation_kinds.get(None))

    def fused_forward(self, module: nn.Module, activate: Callable) -> Callable:
        """A forward for ``module`` (an ``activation_module``) that computes its neurons as ``activate(x, up)``."""
        return lambda x: activate(x, None)

    @contextmanager
    def activations_replaced(self, activate_in: Callable):
        """Compute every layer's neurons as ``activate_in(layer)(x, up)`` inside the ``with`` block.

        Each ``activation_module``'s forward is swapped for ``fused_forward``; the class's forward is
        back on exit, also when the forward pass raises.
        """
        if self.activation_module is None:
            raise ModelError(f"{self.name} has no fused activation form; deactivate with hooks")
        modules = self._layers(self.activation_module)
        try:
            for layer, module in enumerate(modules):
                module.forward = self.fused_forward(module, activate_in(layer))
            yield
        finally:
            for module in modules:
                module.__dict__.pop("forward", None)

    @contextmanager
    def on_neurons(self, visit: Callable):
        """Call ``visit(layer, neurons [B, T, K])`` in every layer's forward pass, at the read point.

        A tensor that ``visit`` returns replaces the neurons (None leaves them). The hooks are
        removed on exit, also when the forward pass raises.
        """

        def pre_hook(layer: int):
            def hook(module, args):
                result = visit(layer, args[0])
                return None if result is None else (result, *args[1:])

            return hook

        handles = []
        try:
            for layer, module in enumerate(self.neuron_modules):
                if self.read == "output":
                    hook = lambda module, args, output, layer=layer: visit(layer, output)  # noqa: E731
                    handles.append(module.register_forward_hook(hook))
                else:
                    handles.append(module.register_forward_pre_hook(pre_hook(layer)))
            yield
        finally:
            for handle in handles:
                handle.remove()

    @property
    def firing_point(self) -> str:
        """What ``on_firing`` reads, in words (recorded with any statistic made from it)."""
        return f"output of {self.firing_module}" if self.firing_module else f"the neurons ({self.read} of {self.neuron_module})"

    @contextmanager
    def on_firing(self, visit: Callable):
        """Call ``visit(layer, values [B, T, K])`` with what decides whether each neuron fires (> 0), every layer."""
        if self.firing_module is None:
            with self.on_neurons(visit):
                yield
            return
        def hook(layer: int):
            return lambda module, args, output: visit(layer, output)  # read only: visit returns None

        handles = [module.register_forward_hook(hook(layer)) for layer, module in enumerate(self._layers(self.firing_module))]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _layers(self, template: str) -> list[nn.Module]:
        pattern = re.compile(r"(?:^|\.)" + template + r"$")
        found = {}
        for name, module in self.model.named_modules():
            match = pattern.search(name)
            if match:
                found[int(match.group(1))] = module
        if not found or sorted(found) != list(range(len(found))):
            raise ModelError(
                f"{self.name}: no modules matching {template!r} numbered 0..n-1 in "
                f"{type(self.model).__name__}; is this really a {self.name} model?"
            )
        return [found[i] for i in range(len(found))]
