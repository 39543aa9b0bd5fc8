"""Plain torch implementations: the CPU path, and the reference the Triton kernels are tested against."""

from __future__ import annotations

import torch


def masked_mean_pool_torch(x: torch.Tensor, mask: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """pooled[b, k] = Σ_t mask[b, t] · x[b, t, k] / Σ_t mask[b, t], accumulated in float32.

    Worked example, B=1, T=4, K=2, the last token padding::

        x    = [[[1, 2], [3, 4], [5, 6], [9, 9]]]   # [1, 4, 2]
        mask = [[1, 1, 1, 0]]                        # [1, 4]
        out  = [[3, 4]]                              # [1, 2]: (1+3+5)/3, (2+4+6)/3

    ``x`` may be float32, float16 or bfloat16; it is upcast to float32 before the sum, since a
    bfloat16 accumulator loses the activations' low bits over a few hundred tokens.
    """
    weights = mask.to(torch.float32)  # [B, T]
    weights = weights / weights.sum(dim=1, keepdim=True).clamp_min(1.0)  # [B, T]
    pooled = torch.bmm(weights.unsqueeze(1), x.to(torch.float32))  # [B, 1, K]
    if out is None:
        return pooled.squeeze(1)  # [B, K]
    return out.copy_(pooled.squeeze(1))
