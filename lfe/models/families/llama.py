"""LLaMA-like gated MLPs (LLaMA, Mistral, Qwen2, Qwen3, Gemma 1-3): neurons are act(gate) * up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lfe.errors import ModelError
from lfe.models.families.base import FamilyAdapter, VllmPoints

if TYPE_CHECKING:
    from typing import Callable

    import torch
    from transformers import PretrainedConfig


class LlamaAdapter(FamilyAdapter):
    name = "llama-like"
    model_types = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text")
    # The input of down_proj is act_fn(gate_proj(x)) * up_proj(x), whatever act_fn is.
    neuron_module = r"layers\.(\d+)\.mlp\.down_proj"
    read = "input"
    # down_proj.weight is [hidden, intermediate]: neuron k is column k.
    deactivation_module = neuron_module
    deactivation_dim = 1
    activation_module = r"layers\.(\d+)\.mlp"
    # act(gate), not its product with up (LAPE's reading)
    firing_module = r"layers\.(\d+)\.mlp\.act_fn"
    activation_kinds = {
        "silu": "silu_gate",
        "gelu": "gelu_gate",
        "gelu_pytorch_tanh": "gelu_tanh_gate",
        "gelu_new": "gelu_tanh_gate",
    }
    # vLLM fuses gate and up into gate_up_proj ([gate | up] along the output) and act_fn into one
    # op.
    vllm = VllmPoints(neurons=neuron_module, gate=r"layers\.(\d+)\.mlp\.gate_up_proj")

    def fused_forward(
        self,
        module: torch.nn.Module,
        activate: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    ) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda x: module.down_proj(activate(module.gate_proj(x), module.up_proj(x)))

    @classmethod
    def check_config(cls, config: PretrainedConfig) -> None:
        experts = getattr(config, "num_experts", None) or getattr(config, "num_local_experts", None)
        if experts:
            raise ModelError(
                f"{config.model_type} with {experts} experts: mixture-of-experts MLPs are not"
                " supported"
            )
