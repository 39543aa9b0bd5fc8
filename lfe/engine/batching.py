"""The batch plan: a pure function of token counts and the token budget.

Bit-identical resume depends on it: a sample's floats depend on its batch (padded length and
batch size change the summation order), so a resumed run must rebuild exactly the same batches.
Batches never cross a row block, so each block is computed, written and marked done on its own.
"""

from __future__ import annotations

from typing import Sequence

import torch


def plan_batches(lengths: Sequence[int], token_budget: int) -> list[list[int]]:
    """Split rows into batches, longest first, each with rows x longest row <= ``token_budget``.

    Longest first, as lm-evaluation-harness does: an out-of-memory error shows at once rather than
    at the end, the first row of a batch fixes its padded length, and time estimates err high.
    A row longer than the budget gets a batch of its own. Ties keep row order.
    """
    if token_budget < 1:
        raise ValueError(f"token budget must be positive, got {token_budget}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * lengths[batches[-1][0]] <= token_budget:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def plan_packed_batches(
    lengths: Sequence[int], token_budget: int, max_rows: int
) -> list[list[int]]:
    """Split rows into batches, longest first, each with at most ``token_budget`` tokens in all and
    ``max_rows`` rows.

    For engines that pack a step's prompts without padding (vLLM): the budget counts real tokens. A
    row longer than the budget gets a batch of its own. Ties keep row order.
    """
    if token_budget < 1 or max_rows < 1:
        raise ValueError(
            f"token budget and rows must be positive, got {token_budget} and {max_rows}"
        )
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    used = 0
    for i in order:
        if batches and len(batches[-1]) < max_rows and used + lengths[i] <= token_budget:
            batches[-1].append(i)
            used += lengths[i]
        else:
            batches.append([i])
            used = lengths[i]
    return batches


def pad_batch(
    token_ids: Sequence[Sequence[int]],
    pad_id: int,
    side: str = "right",
    pooled: Sequence[Sequence[bool]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask, position_ids, pooling_mask), each [B, T] int64, padded on
    ``side``.

    Position ids count real tokens only, so a left-padded sample sees the same positions as an
    unpadded one (absolute-position models such as GPT-2 need this). The pooling mask is the
    attention mask with the positions ``pooled`` marks False (special tokens) also zero.
    """
    if side not in ("right", "left"):
        raise ValueError(f"padding side must be 'right' or 'left', got {side!r}")
    width = max(len(ids) for ids in token_ids)
    input_ids = torch.full((len(token_ids), width), pad_id, dtype=torch.long)  # [B, T]
    mask = torch.zeros((len(token_ids), width), dtype=torch.long)  # [B, T]
    pooling = torch.zeros_like(mask)  # [B, T]
    for row, ids in enumerate(token_ids):
        span = slice(0, len(ids)) if side == "right" else slice(width - len(ids), width)
        input_ids[row, span] = torch.as_tensor(ids, dtype=torch.long)
        mask[row, span] = 1
        pooling[row, span] = 1 if pooled is None else torch.as_tensor(pooled[row], dtype=torch.long)
    positions = (mask.cumsum(dim=1) - 1).clamp_min(0)  # [B, T]
    return input_ids, mask, positions, pooling
