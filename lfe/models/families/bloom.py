"""BLOOM: neurons are the output of the GeLU on ``dense_h_to_4h`` (4 x hidden wide)."""

from torch import nn

from lfe.models.families.base import FamilyAdapter, VllmPoints


class BloomAdapter(FamilyAdapter):
    name = "bloom"
    model_types = ("bloom",)
    # gelu_tanh(dense_h_to_4h(x)); BloomGelu is the tanh approximation.
    neuron_module = r"h\.(\d+)\.mlp\.gelu_impl"
    read = "output"
    # Deactivating neuron k zeroes column k of dense_4h_to_h.weight [hidden, 4h]. NOTE: with
    # pretraining_tp > 1 and slow_but_exact, BLOOM slices that weight; the columns are the same.
    deactivation_module = r"h\.(\d+)\.mlp\.dense_4h_to_h"
    deactivation_dim = 1
    attn_implementation = "eager"  # BLOOM rejects sdpa
    activation_module = neuron_module
    activation_kinds = {None: "gelu_tanh"}  # BloomGelu is fixed: the config names no activation
    takes_position_ids = False  # ALiBi: positions come from the attention mask
    # NOTE: vLLM's BloomMLP computes exact (erf) GELU where BLOOM was trained with the tanh form (up
    # to 4.7e-4 apart per element): lfe puts the tanh form back, so the whole forward pass is
    # BLOOM's own.
    vllm = VllmPoints(
        neurons=deactivation_module,
        activation=(r"h\.(\d+)\.mlp", "gelu_impl", lambda: nn.GELU(approximate="tanh")),
    )
