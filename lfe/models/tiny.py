"""Small random models of every supported family, built from configs and saved like real ones.

They exercise the real loading path (``save_pretrained`` then ``from_pretrained``) where no model
hub can be reached: tests, benchmarks and the offline demo use them. Their tokenizer is byte-level
(every UTF-8 byte is a token), so any text in any script tokenizes without training.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

if TYPE_CHECKING:
    from transformers import PretrainedConfig

# One example config per registered model type (see lfe/models/families/registry.py): width, depth,
# heads.
EXAMPLES: dict[str, dict] = {
    "bloom": {"n_layer": "layers", "hidden_size": "hidden", "n_head": "heads"},
    "gpt2": {
        "n_layer": "layers",
        "n_embd": "hidden",
        "n_head": "heads",
        "n_inner": "intermediate",
        "n_positions": 512,
    },
    "llama": {},
    "mistral": {},
    "qwen2": {},
    "qwen3": {},
    "gemma": {"hidden_act": "gelu_pytorch_tanh"},
    "gemma2": {"hidden_act": "gelu_pytorch_tanh"},
    "gemma3_text": {"hidden_act": "gelu_pytorch_tanh", "sliding_window": 16},
}

_GATED = {
    "num_hidden_layers": "layers",
    "hidden_size": "hidden",
    "intermediate_size": "intermediate",
    "num_attention_heads": "heads",
    "num_key_value_heads": "kv_heads",
    "head_dim": "head_dim",
    "max_position_embeddings": 512,
}

SIZES = {
    "tiny": {
        "layers": 2,
        "hidden": 32,
        "intermediate": 80,
        "heads": 4,
        "kv_heads": 2,
        "head_dim": 8,
    },
    # The smallest vLLM's CPU attention runs (head sizes 32 to 512), embeddings tied as vLLM's BLOOM
    # and Gemma classes require (the real models tie them).
    "vllm": {
        "layers": 2,
        "hidden": 64,
        "intermediate": 96,
        "heads": 2,
        "kv_heads": 1,
        "head_dim": 32,
        "tied": True,
    },
    "small": {
        "layers": 6,
        "hidden": 256,
        "intermediate": 1024,
        "heads": 8,
        "kv_heads": 4,
        "head_dim": 32,
    },
    # The size lfe.models.training trains from scratch on a CPU (BLOOM: 4 x 512 neurons).
    "train": {
        "layers": 4,
        "hidden": 128,
        "intermediate": 512,
        "heads": 4,
        "kv_heads": 2,
        "head_dim": 32,
    },
    "medium": {
        "layers": 8,
        "hidden": 512,
        "intermediate": 2048,
        "heads": 8,
        "kv_heads": 4,
        "head_dim": 64,
    },
    # The shape of Gemma-3-270M's decoder (18 x 2,048 neurons), for benchmarks without a real model.
    "base": {
        "layers": 18,
        "hidden": 640,
        "intermediate": 2048,
        "heads": 4,
        "kv_heads": 1,
        "head_dim": 256,
        "vocab": 262144,
    },
    # About a billion non-embedding parameters, for GPU benchmarks.
    "1b": {
        "layers": 16,
        "hidden": 2048,
        "intermediate": 8192,
        "heads": 16,
        "kv_heads": 8,
        "head_dim": 128,
        "vocab": 32000,
    },
}


def byte_tokenizer(bos: bool = False) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer with no merges: 256 byte tokens plus <bos>, <eos>, <pad>.

    With ``bos`` it puts <bos> before every text when asked for special tokens, as the Gemma and
    LLaMA tokenizers do; without, it adds nothing, as BLOOM's and GPT-2's do.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from tokenizers.pre_tokenizers import ByteLevel

    alphabet = ByteLevel.alphabet()
    vocab = {symbol: i for i, symbol in enumerate(sorted(alphabet))}
    for special in ("<bos>", "<eos>", "<pad>"):
        vocab[special] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    if bos:
        core.post_processor = processors.TemplateProcessing(
            single="<bos> $A", special_tokens=[("<bos>", vocab["<bos>"])]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>"
    )


def tiny_config(model_type: str, size: str = "tiny") -> PretrainedConfig:
    """A transformers config of ``model_type`` at one of ``SIZES``."""
    dims = SIZES[size]
    # A vocabulary larger than the byte tokenizer's 259 ids only adds unused rows, as in real
    # models.
    vocab_size = dims.get("vocab", 259)
    spec = EXAMPLES[model_type]
    layout = (
        {k: v for k, v in spec.items()} if model_type in ("bloom", "gpt2") else {**_GATED, **spec}
    )
    kwargs = {
        key: dims.get(value, value) if isinstance(value, str) else value
        for key, value in layout.items()
    }
    return AutoConfig.for_model(
        model_type,
        vocab_size=vocab_size,
        bos_token_id=256,
        eos_token_id=257,
        pad_token_id=258,
        tie_word_embeddings=dims.get("tied", False),
        **kwargs,
    )


def build_tiny_model(
    model_type: str, path: str | Path, size: str = "tiny", seed: int = 0, bos: bool = False
) -> Path:
    """Build a seeded random ``model_type`` model and save it, with its tokenizer (``bos``: one that
    puts <bos> first), to ``path``."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(model_type, size))
    path = Path(path)
    model.save_pretrained(path)
    byte_tokenizer(bos).save_pretrained(path)
    return path
