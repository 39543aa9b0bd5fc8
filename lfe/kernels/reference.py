"""Plain torch implementations: the CPU path, and the reference the Triton kernels are tested
against."""

from __future__ import annotations

import math

import torch


def masked_mean_pool_torch(
    x: torch.Tensor, mask: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """pooled[b, k] = Σ_t mask[b, t] · x[b, t, k] / Σ_t mask[b, t], accumulated in float32.

    Worked example, B=1, T=4, K=2, the last token padding::

        x    = [[[1, 2], [3, 4], [5, 6], [9, 9]]]   # [1, 4, 2]
        mask = [[1, 1, 1, 0]]                        # [1, 4]
        out  = [[3, 4]]                              # [1, 2]: (1+3+5)/3, (2+4+6)/3

    ``x`` may be float32, float16 or bfloat16; it is upcast to float32 before the sum, since a
    bfloat16 accumulator loses the activations' low bits over a few hundred tokens. Padded positions
    are zeroed first, so whatever they hold (even NaN) cannot reach the mean.
    """
    weights = mask.to(torch.float32)  # [B, T]
    weights = (weights / weights.sum(dim=1, keepdim=True).clamp_min(1.0)).unsqueeze(1)  # [B, 1, T]
    pooled = torch.bmm(weights, x.to(torch.float32)).squeeze(1)  # [B, K]
    # 0 x NaN is NaN: pool again with padding zeroed (rare, so not always)
    if not torch.isfinite(pooled).all():
        pooled = torch.bmm(
            weights, torch.where(mask.unsqueeze(-1).bool(), x, 0).to(torch.float32)
        ).squeeze(1)
    if out is None:
        return pooled
    return out.copy_(pooled)


def masked_positive_count_torch(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """count[b, k] = Σ_t mask[b, t] · [x[b, t, k] > 0]: the real tokens where neuron k fired -> [B,
    K] int32.

    LAPE's statistic (Tang et al. 2024): divided by the tokens pooled, a neuron's activation
    probability. Padded positions never count, whatever they hold (NaN > 0 is false anyway).
    """
    return ((x > 0) & mask.unsqueeze(-1).bool()).sum(dim=1, dtype=torch.int32)


def packed_mean_pool_torch(x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """pooled[s, k] = mean of x[offsets[s]:offsets[s+1], k] for packed [tokens, K] rows -> [S, K]
    float32."""
    lengths = (offsets[1:] - offsets[:-1]).clamp_min(1).to(torch.float32)  # [S]
    # [tokens]
    sample = torch.repeat_interleave(
        torch.arange(len(offsets) - 1, device=x.device), offsets[1:] - offsets[:-1]
    )
    sums = torch.zeros((len(offsets) - 1, x.shape[1]), dtype=torch.float32, device=x.device)
    sums.index_add_(0, sample, x.to(torch.float32))
    return sums / lengths[:, None]


def packed_positive_count_torch(x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """count[s, k] = Σ [x[t, k] > 0] over the packed rows t of sample s (offsets[s]:offsets[s+1]) ->
    [S, K] int32."""
    # [tokens]
    sample = torch.repeat_interleave(
        torch.arange(len(offsets) - 1, device=x.device), offsets[1:] - offsets[:-1]
    )
    counts = torch.zeros((len(offsets) - 1, x.shape[1]), dtype=torch.int32, device=x.device)
    return counts.index_add_(0, sample, (x > 0).to(torch.int32))


def grouped_column_stats_torch(
    a: torch.Tensor, groups: torch.Tensor, n_groups: int
) -> tuple[torch.Tensor, ...]:
    """Per group g and column k: (Σa, Σa², S = Σ_{i<j} a_i a_j = ((Σa)² − Σa²)/2), float32 [G, K]
    each.

    Mergeable: S(A ∪ B) = S(A) + S(B) + Σ_A · Σ_B.
    """
    values = a.to(torch.float32)  # [n, K]
    indicator = torch.zeros((n_groups, a.shape[0]), dtype=torch.float32, device=a.device)  # [G, n]
    indicator[groups, torch.arange(a.shape[0], device=a.device)] = 1.0
    sums, squares = indicator @ values, indicator @ (values * values)  # [G, K] each, by BLAS
    return sums, squares, (sums * sums - squares) / 2


ACTIVATIONS = ("gelu_tanh", "silu_gate", "gelu_gate", "gelu_tanh_gate", "gelu_new")


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def masked_activation_torch(
    kind: str, x: torch.Tensor, up: torch.Tensor | None, table: torch.Tensor, ids: torch.Tensor
) -> torch.Tensor:
    """act(x) (times ``up`` for gated kinds) times ``table[ids[b]]`` per batch row, in x's dtype.

    ``x``, ``up``: [B, T, K]; ``table``: [M, K] (1 keeps a neuron, 0 deactivates); ``ids``: [B].
    Kinds: gelu_tanh (BLOOM), gelu_new (GPT-2; the same formula), and the gated silu_gate,
    gelu_gate, gelu_tanh_gate of the LLaMA-like families. Computed in float32.
    """
    x32 = x.to(torch.float32)
    if kind in ("gelu_tanh", "gelu_new", "gelu_tanh_gate"):
        value = _gelu_tanh(x32)
    elif kind == "silu_gate":
        value = torch.nn.functional.silu(x32)
    elif kind == "gelu_gate":
        value = torch.nn.functional.gelu(x32)
    else:
        raise ValueError(f"unknown activation {kind!r}; one of {', '.join(ACTIVATIONS)}")
    if kind.endswith("_gate"):
        assert up is not None, f"{kind} multiplies by the up projection: pass up"
        value = value * up.to(torch.float32)
    keep = table.to(torch.float32)[ids]  # [B, K]
    return (value * keep[:, None, :]).to(x.dtype)
