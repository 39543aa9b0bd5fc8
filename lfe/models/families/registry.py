"""Which adapter serves which ``config.model_type``: a literal table, imported lazily.

Lazy "module:Class" strings keep ``import lfe`` and ``lfe --help`` free of torch. Whoever adds a
family here adds a tiny example config to ``lfe/models/tiny.py`` too; a test fails otherwise.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from lfe.errors import ModelError

if TYPE_CHECKING:
    import torch

    from lfe.models.families.base import FamilyAdapter

_BLOOM = "lfe.models.families.bloom:BloomAdapter"
_LLAMA = "lfe.models.families.llama:LlamaAdapter"
_GPT2 = "lfe.models.families.gpt2:GPT2Adapter"

FAMILIES: dict[str, str] = {
    "bloom": _BLOOM,
    "llama": _LLAMA,
    "mistral": _LLAMA,
    "qwen2": _LLAMA,
    "qwen3": _LLAMA,
    "gemma": _LLAMA,
    "gemma2": _LLAMA,
    "gemma3_text": _LLAMA,
    "gpt2": _GPT2,
}


def adapter_class(model_type: str) -> type[FamilyAdapter]:
    """The adapter class for ``model_type``; ``ModelError`` listing the supported ones otherwise."""
    try:
        target = FAMILIES[model_type]
    except KeyError:
        raise ModelError(
            f"unsupported model family {model_type!r}; lfe supports {', '.join(sorted(FAMILIES))}"
        ) from None
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def adapter_for(model: torch.nn.Module) -> FamilyAdapter:
    """Bind the right adapter to a loaded transformers model (checks its config first)."""
    config = model.config
    cls = adapter_class(config.model_type)
    cls.check_config(config)
    return cls(model)
