"""Extraction settings made concrete for this machine: the device's batch size and the block
size."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from lfe.errors import LfeError, Problem
from lfe.records import ExtractSettings

BLOCK_BYTES = 256 << 20  # host memory of one row block in float32; the writer queues two
# Padded tokens per batch when none is given. On CPU small batches stay in cache (measured in
# benchmarks/RESULTS.md: 512 beat 4,096 by 20 percent); a GPU wants large ones.
DEFAULT_BATCH_TOKENS = {"cpu": 512, "cuda": 16384}


def resolved(settings: ExtractSettings) -> ExtractSettings:
    """``settings`` with the device's default batch size filled in; the device (and vLLM, for its
    backend) must exist here."""
    device = torch.device(settings.device)
    if settings.backend == "vllm":
        from lfe.models.vllm_engine import vllm_device

        if (runs_on := vllm_device()) != device.type:
            sentence = f"{settings.device}, but this vLLM build runs on {runs_on}; pass {runs_on}"
            raise LfeError.of(Problem("device", sentence))
    if device.type == "cuda" and (
        not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()
    ):
        sentence = (
            f"{settings.device}: this machine has {torch.cuda.device_count()} CUDA device(s);"
            " use cpu or another index"
        )
        raise LfeError.of(Problem("device", sentence))
    if settings.batch_tokens is not None:
        return settings
    return replace(
        settings, batch_tokens=DEFAULT_BATCH_TOKENS.get(device.type, DEFAULT_BATCH_TOKENS["cpu"])
    )


def default_block_rows(width: int) -> int:
    """Rows per block: as many as BLOCK_BYTES of float32 rows hold, a multiple of 16, 16 to 4096.

    Large blocks sort more rows by length (less padding); measured in benchmarks/RESULTS.md, eight
    smaller blocks to overlap writing with computing saved nothing on a GPU and cost padding on a
    CPU.
    """
    return int(np.clip(BLOCK_BYTES // (width * 4) // 16 * 16, 16, 4096))
