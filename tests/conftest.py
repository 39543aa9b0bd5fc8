"""Shared fixtures: tiny models of every family (saved like real ones) and small parallel
corpora."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Triton's interpreter runs the kernel tests on CPU tensors; it must be on before anything imports
# triton (transformers 5.19, which vLLM's CPU build pins, imports triton.language with its model
# classes), so here, the first file pytest reads. Where a GPU compiles the kernels for real, it
# stays off.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from tests.helpers import parallel_rows, write_tsv


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """model_type -> directory of a saved tiny random model, built once per session on demand."""
    from lfe.models.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("models")
    cache: dict[str, Path] = {}

    def get(model_type: str, size: str = "tiny", seed: int = 0, bos: bool = False) -> Path:
        key = f"{model_type}-{size}-{seed}" + ("-bos" if bos else "")
        if key not in cache:
            cache[key] = build_tiny_model(model_type, root / key, size=size, seed=seed, bos=bos)
        return cache[key]

    return get


@pytest.fixture
def corpus_file(tmp_path):
    return write_tsv(tmp_path / "corpus.tsv", parallel_rows())
