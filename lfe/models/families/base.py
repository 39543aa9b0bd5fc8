"""The adapter protocol: where one model family keeps its MLP neurons.

An adapter is data plus two small lookups. Required: the module whose output (or input) holds the
neurons (``neuron_module``, ``read``), and the projection that consumes them
(``deactivation_module``, ``deactivation_dim``). From these it derives the layer count and neurons
per layer of a loaded model. Optional hooks (``check_config``, ``attn_implementation``) default to
doing nothing; ``vllm`` names the same neurons in vLLM's model class of the family. The hooks
themselves (``NeuronSite``) serve both.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, ClassVar, Iterator, Literal

from torch import nn

from lfe.errors import ModelError

if TYPE_CHECKING:
    from typing import Any

    import torch
    from transformers import PretrainedConfig


@dataclass(frozen=True)
class VllmPoints:
    """Where a family keeps the same neurons in vLLM's own model class (read by
    ``lfe.models.vllm_worker``).

    ``neurons``: the projection whose input is the neurons, [tokens, K]. Not vLLM's activation
    module: ``get_act_fn`` hands one instance to every layer, so a hook there cannot tell the layers
    apart. ``gate``: the fused gate-up projection of a gated MLP, whose output's first half is the
    activation's input; LAPE's firing point act(gate) > 0 is gate > 0 (SiLU and GELU are positive
    exactly there). None: the neurons themselves fire where they are > 0. ``activation``: (the MLP
    module, its attribute, a factory of the module lfe puts there) where vLLM computes another
    activation than the one the family was trained with.
    """

    neurons: str
    gate: str | None = None
    activation: tuple[str, str, Callable[[], nn.Module]] | None = None


class NeuronSite:
    """Hooks at the neurons of one loaded model: ``neuron_modules`` (one per layer, read at their
    ``read`` side) and ``firing_modules`` (what decides whether a neuron fires; None: the neurons
    themselves).

    Shared by the transformers adapters below and ``lfe.models.vllm_worker.VllmSite`` (vLLM's
    classes).
    """

    name: str
    read: ClassVar[Literal["output", "input"]]
    neuron_modules: list[nn.Module]
    firing_modules: list[nn.Module] | None = None
    n_neurons: int

    @property
    def n_layers(self) -> int:
        return len(self.neuron_modules)

    @contextmanager
    def on_neurons(self, visit: Callable) -> Iterator[None]:
        """Call ``visit(layer, neurons [..., K])`` in every layer's forward pass, at the read point.

        A tensor that ``visit`` returns replaces the neurons (None leaves them). The hooks are
        removed on exit, also when the forward pass raises.
        """

        def pre_hook(layer: int) -> Callable:
            def hook(module: torch.nn.Module, args: tuple) -> tuple | None:
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

    def firing_values(self, output: Any) -> torch.Tensor:
        """What a firing module's output says: the values that fire where > 0 (the output itself
        here)."""
        return output

    @contextmanager
    def on_firing(self, visit: Callable) -> Iterator[None]:
        """Call ``visit(layer, values [..., K])`` with what decides whether each neuron fires (> 0),
        every layer."""
        if self.firing_modules is None:
            with self.on_neurons(visit):
                yield
            return

        def hook(layer: int) -> Callable:  # read only: visit returns None
            return lambda module, args, output: visit(layer, self.firing_values(output))

        handles = [
            module.register_forward_hook(hook(layer))
            for layer, module in enumerate(self.firing_modules)
        ]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()


def numbered_modules(model: nn.Module, template: str, family: str) -> list[nn.Module]:
    """The modules whose names end in ``template`` (a regex with one group, the layer index), in
    layer order."""
    pattern = re.compile(r"(?:^|\.)" + template + r"$")
    found = {}
    for name, module in model.named_modules():
        match = pattern.search(name)
        if match:
            found[int(match.group(1))] = module
    if not found or sorted(found) != list(range(len(found))):
        raise ModelError(
            f"{family}: no modules matching {template!r} numbered 0..n-1 in "
            f"{type(model).__name__}; is this really a {family} model?"
        )
    return [found[i] for i in range(len(found))]


class FamilyAdapter(NeuronSite):
    """Neuron read point and deactivation point of one family, bound to one loaded transformers
    model.

    Module paths are regexes matched against the end of ``model.named_modules()`` names, with one
    group for the layer index, so wrappers (``model.``, ``transformer.``, ``language_model.``) need
    no special case.
    """

    model_types: ClassVar[tuple[str, ...]]
    neuron_module: ClassVar[str]
    deactivation_module: ClassVar[str]
    deactivation_dim: ClassVar[int]  # weight dimension that indexes the neurons
    attn_implementation: ClassVar[str | None] = None  # None: let transformers choose
    # The module whose forward computes the neurons, replaced by lfe.kernels.masked_activation for
    # per-row deactivation in one pass (None: the family has no fused form and uses hooks).
    activation_module: ClassVar[str | None] = None
    # the config's activation name -> lfe.kernels activation kind (key None: whatever the config
    # says)
    activation_kinds: ClassVar[dict[str | None, str]] = {}
    takes_position_ids: ClassVar[bool] = True  # False: positions come from the mask (ALiBi)
    # Where a neuron "fires" for LAPE (the activation function's output > 0): the module whose
    # output is act(gate) in a gated MLP; None: the neurons themselves (act(fc(x)) in a plain MLP).
    firing_module: ClassVar[str | None] = None
    # the same neurons in vLLM's model class; None: no vLLM form
    vllm: ClassVar[VllmPoints | None] = None

    @classmethod
    def check_config(cls, config: PretrainedConfig) -> None:
        """Raise ``ModelError`` if ``config`` is a variant the read point does not fit."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.neuron_modules = self._layers(self.neuron_module)
        self.deactivation_modules = self._layers(self.deactivation_module)
        self.firing_modules = self._layers(self.firing_module) if self.firing_module else None
        if len(self.neuron_modules) != len(self.deactivation_modules):
            raise ModelError(
                f"{self.name}: found {len(self.neuron_modules)} neuron modules but "
                f"{len(self.deactivation_modules)} deactivation modules"
            )
        widths = [m.weight.shape[self.deactivation_dim] for m in self.deactivation_modules]
        if len(set(widths)) != 1:
            raise ModelError(
                f"{self.name}: layers have different MLP widths {widths}; lfe needs one width"
            )
        self.n_neurons = widths[0]

    @property
    def activation_kind(self) -> str | None:
        """The lfe.kernels activation of this model, or None when it has no fused form."""
        config = self.model.config
        name = next(
            (
                getattr(config, key)
                for key in ("hidden_activation", "hidden_act", "activation_function")
                if getattr(config, key, None)
            ),
            None,
        )
        if not self.activation_module:
            return None
        return self.activation_kinds.get(name, self.activation_kinds.get(None))

    def fused_forward(self, module: nn.Module, activate: Callable) -> Callable:
        """A forward for ``module`` (an ``activation_module``) that computes its neurons as
        ``activate(x, up)``."""
        return lambda x: activate(x, None)

    @contextmanager
    def activations_replaced(self, activate_in: Callable) -> Iterator[None]:
        """Compute every layer's neurons as ``activate_in(layer)(x, up)`` inside the ``with`` block.

        Each ``activation_module``'s forward is swapped for ``fused_forward``; the class's forward
        is back on exit, also when the forward pass raises.
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

    @property
    def firing_point(self) -> str:
        """What ``on_firing`` reads, in words (recorded with any statistic made from it)."""
        return (
            f"output of {self.firing_module}"
            if self.firing_module
            else f"the neurons ({self.read} of {self.neuron_module})"
        )

    def _layers(self, template: str) -> list[nn.Module]:
        return numbered_modules(self.model, template, self.name)
