"""GPT-2: neurons are the output of ``mlp.act`` (gelu_new on ``c_fc``)."""

from lfe.models.families.base import FamilyAdapter, VllmPoints


class GPT2Adapter(FamilyAdapter):
    name = "gpt2"
    model_types = ("gpt2",)
    neuron_module = r"h\.(\d+)\.mlp\.act"
    read = "output"
    # NOTE: Conv1D stores its weight transposed, [in, out]: neuron k is row k of c_proj.weight.
    deactivation_module = r"h\.(\d+)\.mlp\.c_proj"
    deactivation_dim = 0
    activation_module = neuron_module
    activation_kinds = {"gelu_new": "gelu_new", "gelu_pytorch_tanh": "gelu_tanh"}
    # Absolute positions: with left padding, explicit position ids keep pooling padding-free.
    takes_position_ids = True
    # vLLM transposes Conv1D weights at load: there c_proj is a linear layer whose input is the
    # neurons.
    vllm = VllmPoints(neurons=deactivation_module)
