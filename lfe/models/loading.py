"""Loading a causal LM from a local directory, a hub id (or its local cache) or a GGUF file.

The family is checked from the config alone, before any weights are read, so an unsupported model
fails in a second. A GGUF file is dequantized once and kept as safetensors in lfe's cache
(``$LFE_CACHE``, else ``~/.cache/lfe``): transformers dequantizes on every load otherwise.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import uuid
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from lfe.errors import ModelError, Problem, StoreError
from lfe.models.families import adapter_class, adapter_for
from lfe.models.families.base import FamilyAdapter
from lfe.records import MODEL_DTYPES, ModelSource, SourceKind
from lfe.wheels import cache_dir, file_sha256

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedTokenizerBase

TORCH_DTYPES = {name: getattr(torch, name) for name in MODEL_DTYPES}


def resolve_source(
    spec: str, revision: str | None = None, random_init: int | None = None
) -> ModelSource:
    """Decide how ``spec`` is loaded, without loading anything; ``random_init``: its architecture
    and tokenizer with weights drawn from that seed instead of its own (the random-weights
    control)."""
    if random_init is not None:
        return replace(resolve_source(spec, revision), random_init=random_init)
    path = Path(spec).expanduser()
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ModelError(
                f"{spec} is a file but not a .gguf file; pass a model directory, a hub id or a GGUF"
                " file"
            )
        if revision:
            raise ModelError.of(Problem("revision", "applies to hub ids, not to a GGUF file"))
        return ModelSource(SourceKind.GGUF, str(path.resolve()))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(
                f"{spec} is a directory without config.json: not a saved transformers model"
            )
        if revision:
            sentence = (
                "applies to hub ids, not to a local directory; pass each checkpoint's directory"
            )
            raise ModelError.of(Problem("revision", sentence))
        return ModelSource(SourceKind.LOCAL, str(path.resolve()))
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise ModelError(f"model path {spec} does not exist")
    return ModelSource(SourceKind.HUB, spec, revision)


def pretrained_args(source: ModelSource) -> tuple[str, dict]:
    """The (path or id, keyword arguments) that transformers' from_pretrained calls take."""
    if source.kind == SourceKind.GGUF:
        return str(converted_gguf(source.spec)), {}
    if source.kind == SourceKind.HUB:
        return source.spec, {"revision": source.revision} if source.revision else {}
    return source.spec, {}


@lru_cache(maxsize=16)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file, read once per (path, size, mtime): a GGUF file is hashed once per
    process."""
    return file_sha256(path)


def converted_gguf(path: str | Path, cache: str | Path | None = None) -> Path:
    """A safetensors copy of the GGUF file ``path`` in lfe's cache, made on first use.

    transformers dequantizes a GGUF file on every load (about 48 s for Gemma-3-270M here); the
    copy loads in seconds. Needs the packages gguf and accelerate (dependencies of lfe).
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    stat = Path(path).stat()
    target = cache_dir(cache) / "gguf" / _digest(str(path), stat.st_size, stat.st_mtime_ns)
    if (target / "config.json").is_file():
        return target
    path = Path(path)
    kwargs = {"gguf_file": path.name}
    hf_logging.disable_progress_bar()
    try:
        config = AutoConfig.from_pretrained(path.parent, **kwargs)
        adapter_class(config.model_type).check_config(config)
        model = AutoModelForCausalLM.from_pretrained(path.parent, dtype=torch.float32, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(path.parent, **kwargs)
    except ImportError as error:
        raise ModelError(
            "reading GGUF files needs the packages gguf and accelerate: pip install gguf"
            f" accelerate ({error})"
        ) from None
    except (OSError, ValueError, KeyError, struct.error) as error:  # struct.error: a truncated file
        raise ModelError(
            f"cannot read the GGUF file {path} ({type(error).__name__}: {error}); is it whole? "
            "Fetch it again"
        ) from None
    # transformers dequantizes GGUF weights to plain tensors on load but keeps a "gguf quantizer"
    # that refuses to save; the tensors themselves are ordinary, so drop it.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if not target.exists():  # another process may have converted it meanwhile
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def load_config(source: ModelSource) -> PretrainedConfig:
    """The model's config; ``ModelError`` if it cannot be read or its family is unsupported."""
    from transformers import AutoConfig

    where, kwargs = pretrained_args(source)
    try:
        config = AutoConfig.from_pretrained(where, **kwargs)
    except (OSError, ValueError) as error:
        hint = ""
        if source.kind == SourceKind.HUB:
            hint = (
                " (nor is it in the local Hugging Face cache: fetch it where the hub is reachable,"
                " or pass a local directory)"
            )
        raise ModelError(f"cannot read the config of {source.spec}: {error}{hint}") from None
    adapter_class(config.model_type).check_config(config)
    return config


def load_model(source: ModelSource, dtype: str = "float32", device: str = "cpu") -> tuple[Any, Any]:
    """Load (model, tokenizer) in ``dtype`` on ``device``, in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if dtype not in TORCH_DTYPES:
        raise ModelError.of(Problem("dtype", f"{dtype!r} is not one of {', '.join(TORCH_DTYPES)}"))
    if device.startswith("cuda") and not torch.cuda.is_available():
        problem = Problem("device", "cuda, but torch sees no CUDA device here; pass `device` cpu")
        raise ModelError.of(problem)
    config = load_config(source)
    hf_logging.disable_progress_bar()
    where, kwargs = pretrained_args(source)
    attn = adapter_class(config.model_type).attn_implementation
    if attn:
        kwargs["attn_implementation"] = attn
    try:
        # the same architecture, seeded random weights: what training added is the rest
        if source.random_init is not None:
            torch.manual_seed(source.random_init)
            model = AutoModelForCausalLM.from_config(
                config, **{k: v for k, v in kwargs.items() if k == "attn_implementation"}
            ).to(TORCH_DTYPES[dtype])
        else:
            model = AutoModelForCausalLM.from_pretrained(where, dtype=TORCH_DTYPES[dtype], **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(
            where, **{k: v for k, v in kwargs.items() if k != "attn_implementation"}
        )
    except (OSError, ValueError, ImportError) as error:
        raise ModelError(f"cannot load {source.spec}: {error}") from None
    return model.to(device).eval(), tokenizer


@dataclass
class LoadedModel:
    """A model ready to run: the module, its tokenizer, its family adapter and its two identity
    hashes."""

    model: Any  # a transformers PreTrainedModel, in eval mode
    tokenizer: Any
    adapter: FamilyAdapter
    weights_hash: str
    tokenizer_hash: str


def load(source: ModelSource, dtype: str = "float32", device: str = "cpu") -> LoadedModel:
    """Load ``source`` with its adapter bound and its weights and tokenizer hashed."""
    model, tokenizer = load_model(source, dtype, device)
    return LoadedModel(
        model, tokenizer, adapter_for(model), weights_hash(model), tokenizer_fingerprint(tokenizer)
    )


def checked_model(
    model: str, weights_hash: str | None, checkpoint: str, dtype: str, device: str
) -> LoadedModel:
    """``model`` loaded, refused unless its weights hash to ``weights_hash`` (what ``checkpoint``
    was extracted from)."""
    loaded = load(resolve_source(model), dtype, device)
    if loaded.weights_hash != weights_hash:
        raise StoreError(
            f"{model} is not the model whose activations checkpoint {checkpoint!r} holds "
            "(weights hash differs); pass the same model"
        )
    return loaded


def model_device(backend: str, device: str) -> str:
    """Where the transformers model loads: the device, or the CPU beside vLLM (which runs its own
    copy)."""
    return "cpu" if backend == "vllm" else device


def files_signature(source: ModelSource) -> str | None:
    """sha256 of the (name, size, mtime) of a local model's files: a cheap sign that the weights at
    a path changed, checked before a finished checkpoint is declared complete; None for a hub id (a
    pinned revision)."""
    if source.kind == SourceKind.HUB:
        return None
    path = Path(source.spec)
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        if file.is_file():
            stat = file.stat()
            digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def context_length(config: PretrainedConfig) -> int | None:
    """The longest input the model's positions allow; None for models without a limit (ALiBi)."""
    for key in ("max_position_embeddings", "n_positions"):
        if getattr(config, key, None):
            return int(getattr(config, key))
    return None


def weights_hash(model: torch.nn.Module) -> str:
    """sha256 over every tensor of the state dict (name, dtype, shape, bytes), in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().contiguous().cpu()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(
            tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b""
        )
    return digest.hexdigest()


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """sha256 of the tokenizer's full definition (vocabulary, merges, normalisation)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def checkpoint_dirs(pattern: str) -> list[str]:
    """Directories matching ``pattern`` that hold a saved model, in the order of the numbers in
    their names."""
    import glob
    import re

    matches = [path for path in glob.glob(pattern) if (Path(path) / "config.json").is_file()]
    if not matches:
        problem = Problem("pattern", f"{pattern!r} matches no directory with a config.json")
        raise ModelError.of(problem)
    return sorted(
        matches,
        key=lambda path: [
            int(part) if part.isdigit() else part for part in re.split(r"(\d+)", Path(path).name)
        ],
    )
