"""Triton kernels for lfe's hot loops, with their launchers; ``reference.py`` holds the torch twins.

Imported only when a Triton path is used (never at ``import lfe``). On CPU they run only in
Triton's interpreter, which must be switched on (``TRITON_INTERPRET=1``) before this module is
imported; the interpreter has no tanh, so tanh-GeLU uses the identity ½(1 + tanh z) = σ(2z), and it
multiplies bfloat16 dot operands as raw bits (tests/kernels/conftest.py converts them first).
Accumulation is float32 whatever the input dtype; program ids are cast to int64 before offsets,
since batch x tokens x neurons overflows int32.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from lfe.kernels._settings import block_size

# Block shapes, warps and software-pipeline stages per kernel, chosen by
# `benchmarks/bench_kernels.py
# --sweep` on an H100 (RESULTS.md); rows/tokens blocks shrink for short inputs.
LAUNCH = {
    "pool": {"rows": 16, "cols": 512, "num_warps": 4, "num_stages": 3},
    "segments": {"rows": 32, "cols": 64, "num_warps": 4, "num_stages": 3},
    # swept for the tf32x3 kernel before
    "stats": {"rows": 64, "cols": 128, "num_warps": 4, "num_stages": 3},
    "activation": {"cols": 2048, "num_warps": 8},
}

# The settings `bench_kernels.py --sweep` times on a GPU (and `python -m lfe.kernels.aot --sweep`
# compiles here): the fastest become LAUNCH.
SWEEP = {
    "pool": [
        {"rows": 16, "cols": c, "num_warps": w, "num_stages": s}
        for c in (256, 512, 1024)
        for w in (4, 8)
        for s in (2, 3, 4)
    ],
    "stats": [
        {"rows": r, "cols": c, "num_warps": w, "num_stages": s}
        for r in (32, 64, 128)
        for c in (64, 128, 256)
        for w in (4, 8)
        for s in (3, 4)
    ],
    "activation": [{"cols": c, "num_warps": w} for c in (256, 512, 1024, 2048) for w in (2, 4, 8)],
}


@triton.jit
def _real_span(w_ptr, b, T):
    """(first, last + 1) of sample ``b``'s real tokens (``w`` != 0): padding on either side is never
    read (fewer bytes, and whatever a padded position holds, even NaN, cannot reach a statistic)."""
    first, last = T, 0
    for t0 in range(0, T, 1024):
        ts = t0 + tl.arange(0, 1024)
        real = tl.load(w_ptr + b * T + ts, mask=ts < T, other=0.0) != 0.0
        first = tl.minimum(first, tl.min(tl.where(real, ts, T)))
        last = tl.maximum(last, tl.max(tl.where(real, ts + 1, 0)))
    return first, last


@triton.jit
def _masked_mean_pool_kernel(
    x_ptr,
    w_ptr,
    out_ptr,
    T,
    K,
    stride_xb,
    stride_xt,
    stride_ob,
    BLOCK_T: tl.constexpr,
    BLOCK_K: tl.constexpr,
    NUM_STAGES: tl.constexpr,
) -> None:
    b = tl.program_id(0).to(tl.int64)
    ks = tl.program_id(1).to(tl.int64) * BLOCK_K + tl.arange(0, BLOCK_K)
    first, last = _real_span(w_ptr, b, T)
    # a 2-D accumulator, reduced across tokens once at the end rather than in every step; tl.range's
    # stages pipeline the loads (cp.async), which a plain range leaves unpipelined here (no dot)
    acc = tl.zeros((BLOCK_T, BLOCK_K), dtype=tl.float32)
    for t0 in tl.range(first, last, BLOCK_T, num_stages=NUM_STAGES):
        ts = t0 + tl.arange(0, BLOCK_T)
        w = tl.load(w_ptr + b * T + ts, mask=ts < last, other=0.0)
        x = tl.load(
            x_ptr + b * stride_xb + ts[:, None] * stride_xt + ks[None, :],
            # upcast after load
            mask=(ts[:, None] < last) & (ks[None, :] < K),
            other=0.0,
        ).to(tl.float32)
        acc += x * w[:, None]
    tl.store(out_ptr + b * stride_ob + ks, tl.sum(acc, axis=0), mask=ks < K)


def masked_mean_pool_triton(
    x: torch.Tensor, mask: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Same contract as ``masked_mean_pool_torch``: [B, T, K] and [B, T] -> [B, K] float32."""
    batch, tokens, width = x.shape
    if x.stride(2) != 1:
        x = x.contiguous()
    weights = mask.to(torch.float32)
    weights = (weights / weights.sum(dim=1, keepdim=True).clamp_min(1.0)).contiguous()  # [B, T]
    if out is None:
        out = torch.empty((batch, width), dtype=torch.float32, device=x.device)
    launch = LAUNCH["pool"]
    block_k = block_size(width, launch["cols"])
    grid = (batch, triton.cdiv(width, block_k))
    _masked_mean_pool_kernel[grid](
        x,
        weights,
        out,
        tokens,
        width,
        x.stride(0),
        x.stride(1),
        out.stride(0),
        BLOCK_T=block_size(tokens, launch["rows"]),
        BLOCK_K=block_k,
        NUM_STAGES=launch["num_stages"],
        num_warps=launch["num_warps"],
    )
    return out


@triton.jit
def _masked_positive_count_kernel(
    x_ptr,
    w_ptr,
    out_ptr,
    T,
    K,
    stride_xb,
    stride_xt,
    stride_ob,
    BLOCK_T: tl.constexpr,
    BLOCK_K: tl.constexpr,
    NUM_STAGES: tl.constexpr,
) -> None:
    b = tl.program_id(0).to(tl.int64)
    ks = tl.program_id(1).to(tl.int64) * BLOCK_K + tl.arange(0, BLOCK_K)
    first, last = _real_span(w_ptr, b, T)
    count = tl.zeros((BLOCK_T, BLOCK_K), dtype=tl.int32)
    for t0 in tl.range(first, last, BLOCK_T, num_stages=NUM_STAGES):
        ts = t0 + tl.arange(0, BLOCK_T)
        # a hole in the span: an excluded token
        real = tl.load(w_ptr + b * T + ts, mask=ts < last, other=0.0) != 0.0
        x = tl.load(
            x_ptr + b * stride_xb + ts[:, None] * stride_xt + ks[None, :],
            # the interpreter's
            mask=(ts[:, None] < last) & (ks[None, :] < K),
            other=0.0,
        ).to(tl.float32)
        count += ((x > 0) & real[:, None]).to(tl.int32)  # bfloat16 are raw bits until converted
    tl.store(out_ptr + b * stride_ob + ks, tl.sum(count, axis=0), mask=ks < K)


def masked_positive_count_triton(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Same contract as ``masked_positive_count_torch``: [B, T, K] and [B, T] -> [B, K] int32, in
    one read of x."""
    batch, tokens, width = x.shape
    if x.stride(2) != 1:
        x = x.contiguous()
    out = torch.empty((batch, width), dtype=torch.int32, device=x.device)
    launch = LAUNCH["pool"]  # the same access pattern as the mean
    block_k = block_size(width, launch["cols"])
    _masked_positive_count_kernel[(batch, triton.cdiv(width, block_k))](
        x,
        mask.to(torch.float32).contiguous(),
        out,
        tokens,
        width,
        x.stride(0),
        x.stride(1),
        out.stride(0),
        BLOCK_T=block_size(tokens, launch["rows"]),
        BLOCK_K=block_k,
        NUM_STAGES=launch["num_stages"],
        num_warps=launch["num_warps"],
    )
    return out


@triton.jit
def _segment_sums_kernel(
    x_ptr,
    offsets_ptr,
    sums_ptr,
    K,
    stride_x,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    NUM_STAGES: tl.constexpr,
) -> None:
    s = tl.program_id(0).to(tl.int64)
    ks = tl.program_id(1).to(tl.int64) * BLOCK_K + tl.arange(0, BLOCK_K)
    start = tl.load(offsets_ptr + s)
    stop = tl.load(offsets_ptr + s + 1)
    total = tl.zeros((BLOCK_N, BLOCK_K), dtype=tl.float32)
    # pipelined loads, as in the pool
    for n0 in tl.range(start, stop, BLOCK_N, num_stages=NUM_STAGES):
        ns = n0 + tl.arange(0, BLOCK_N)
        total += tl.load(
            x_ptr + ns[:, None] * stride_x + ks[None, :],
            mask=(ns[:, None] < stop) & (ks[None, :] < K),
            other=0.0,
        ).to(tl.float32)
    tl.store(sums_ptr + s * K + ks, tl.sum(total, axis=0), mask=ks < K)


def _segment_sums(x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Column sums of x's rows offsets[s]:offsets[s+1], float32 [S, K]."""
    segments, width = len(offsets) - 1, x.shape[1]
    if x.stride(1) != 1:
        x = x.contiguous()
    sums = torch.empty((segments, width), dtype=torch.float32, device=x.device)
    launch = LAUNCH["segments"]
    block_k = block_size(width, launch["cols"])
    grid = (segments, triton.cdiv(width, block_k))
    _segment_sums_kernel[grid](
        x,
        offsets.to(torch.int64).contiguous(),
        sums,
        width,
        x.stride(0),
        BLOCK_N=launch["rows"],
        BLOCK_K=block_k,
        NUM_STAGES=launch["num_stages"],
        num_warps=launch["num_warps"],
    )
    return sums


def packed_mean_pool_triton(x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Same contract as ``packed_mean_pool_torch``: [tokens, K] and [S + 1] offsets -> [S, K]
    float32."""
    sums = _segment_sums(x, offsets)
    lengths = (offsets[1:] - offsets[:-1]).clamp_min(1).to(torch.float32)
    return sums / lengths[:, None]


def packed_positive_count_triton(x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Same contract as ``packed_positive_count_torch``: [tokens, K] and [S + 1] offsets -> [S, K]
    int32."""
    # sums of 0/1 in float32 are exact integers up to 2**24 tokens per sample
    return _segment_sums((x > 0).to(torch.float32), offsets).to(torch.int32)


@triton.jit
def _onehot_dot(acc, onehot, v, PARTS: tl.constexpr):
    """acc + onehot @ v, exactly: float32 ``v`` is split into PARTS bfloat16 pieces (8 bits
    each)."""
    rest = v
    for _ in tl.static_range(PARTS):
        piece = rest.to(tl.bfloat16)
        acc = tl.dot(onehot, piece, acc)
        rest = rest - piece.to(tl.float32)
    return acc


@triton.jit
def _grouped_stats_kernel(
    a_ptr,
    groups_ptr,
    sums_ptr,
    squares_ptr,
    N,
    K,
    G,
    stride_a,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    BLOCK_G: tl.constexpr,
    VALUE_PARTS: tl.constexpr,
    SQUARE_PARTS: tl.constexpr,
) -> None:
    """One program per (column block, 16 groups) walks all rows once, in their own order.

    Each step's rows go to their groups by a one-hot [BLOCK_G, BLOCK_N] product, so rows need not be
    sorted or gathered, and every load is a contiguous row segment. The products are bfloat16
    tensor-core dots on exact bfloat16 pieces of each value and square, accumulated in float32.
    """
    ks = tl.program_id(0).to(tl.int64) * BLOCK_K + tl.arange(0, BLOCK_K)
    gs = tl.program_id(1) * BLOCK_G + tl.arange(0, BLOCK_G)
    total = tl.zeros((BLOCK_G, BLOCK_K), dtype=tl.float32)
    total_sq = tl.zeros((BLOCK_G, BLOCK_K), dtype=tl.float32)
    for n0 in range(0, N, BLOCK_N):
        ns = n0 + tl.arange(0, BLOCK_N)
        group = tl.load(groups_ptr + ns, mask=ns < N, other=-1)
        # [BLOCK_G, BLOCK_N]
        onehot = tl.where(gs[:, None] == group[None, :], 1.0, 0.0).to(tl.bfloat16)
        x = tl.load(
            a_ptr + ns[:, None].to(tl.int64) * stride_a + ks[None, :],
            mask=(ns[:, None] < N) & (ks[None, :] < K),
            other=0.0,
        ).to(tl.float32)
        total = _onehot_dot(total, onehot, x, VALUE_PARTS)
        total_sq = _onehot_dot(total_sq, onehot, x * x, SQUARE_PARTS)
    where = gs[:, None].to(tl.int64) * K + ks[None, :]
    inside = (gs[:, None] < G) & (ks[None, :] < K)
    tl.store(sums_ptr + where, total, mask=inside)
    tl.store(squares_ptr + where, total_sq, mask=inside)


# no fused multiply-add: fma(x, x, -piece) would split the exact x² instead of its float32 rounding,
# which the torch path sums, and then three pieces no longer hold it
STATS_OPTIONS = {"enable_fp_fusion": False}

# bfloat16 pieces that hold a value and its float32 square exactly: a bfloat16 value has 8
# significant bits (its square 16), a float16 value 11 (22), float32 24 (its square is rounded to
# float32 first, as in the torch path)
BFLOAT16_PIECES = {torch.bfloat16: (1, 2), torch.float16: (2, 3), torch.float32: (3, 3)}


def grouped_column_stats_triton(
    a: torch.Tensor, groups: torch.Tensor, n_groups: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Same contract as ``grouped_column_stats_torch``: one pass over ``a`` in its own row order."""
    if a.dtype not in BFLOAT16_PIECES:
        raise TypeError(
            f"grouped_column_stats takes float32, float16 or bfloat16 rows, not {a.dtype}"
        )
    rows, width = a.shape
    if a.stride(1) != 1:
        a = a.contiguous()
    sums = torch.empty((n_groups, width), dtype=torch.float32, device=a.device)
    squares = torch.empty_like(sums)
    launch = LAUNCH["stats"]
    block_k = block_size(width, launch["cols"])
    grid = (triton.cdiv(width, block_k), triton.cdiv(n_groups, 16))
    value_parts, square_parts = BFLOAT16_PIECES[a.dtype]
    _grouped_stats_kernel[grid](
        a,
        groups.to(torch.int32).contiguous(),
        sums,
        squares,
        rows,
        width,
        n_groups,
        a.stride(0),
        BLOCK_N=launch["rows"],
        BLOCK_K=block_k,
        BLOCK_G=16,
        VALUE_PARTS=value_parts,
        SQUARE_PARTS=square_parts,
        num_warps=launch["num_warps"],
        num_stages=launch["num_stages"],
        **STATS_OPTIONS,
    )
    return sums, squares, (sums * sums - squares) / 2


@triton.jit
def _masked_activation_kernel(
    x_ptr,
    up_ptr,
    table_ptr,
    ids_ptr,
    out_ptr,
    T,
    K,
    KIND: tl.constexpr,
    GATED: tl.constexpr,
    BLOCK_K: tl.constexpr,
) -> None:
    row = tl.program_id(0).to(tl.int64)  # one (batch row, token) pair
    ks = tl.program_id(1).to(tl.int64) * BLOCK_K + tl.arange(0, BLOCK_K)
    inside = ks < K
    x = tl.load(x_ptr + row * K + ks, mask=inside, other=0.0).to(tl.float32)
    # tanh GeLU: x · σ(2 · √(2/π) · (x + 0.044715 x³)), as the interpreter has no tanh
    if KIND == 0:
        # 0.797... = sqrt(2 / pi)
        value = x * tl.sigmoid(2.0 * 0.7978845608028654 * (x + 0.044715 * x * x * x))
    elif KIND == 1:  # SiLU
        value = x * tl.sigmoid(x)
    else:  # erf GeLU
        value = 0.5 * x * (1.0 + tl.erf(x * 0.7071067811865476))
    if GATED:
        value = value * tl.load(up_ptr + row * K + ks, mask=inside, other=0.0).to(tl.float32)
    mask_id = tl.load(ids_ptr + row // T).to(tl.int64)
    keep = tl.load(table_ptr + mask_id * K + ks, mask=inside, other=0.0)
    tl.store(out_ptr + row * K + ks, (value * keep).to(out_ptr.dtype.element_ty), mask=inside)


_KINDS = {
    "gelu_tanh": (0, False),
    "gelu_new": (0, False),
    "gelu_tanh_gate": (0, True),
    "silu_gate": (1, True),
    "gelu_gate": (2, True),
}


def masked_activation_triton(
    kind: str, x: torch.Tensor, up: torch.Tensor | None, table: torch.Tensor, ids: torch.Tensor
) -> torch.Tensor:
    """Same contract as ``masked_activation_torch``."""
    if kind not in _KINDS:
        raise ValueError(f"unknown activation {kind!r}; one of {', '.join(_KINDS)}")
    code, gated = _KINDS[kind]
    batch, tokens, width = x.shape
    x = x.contiguous()
    up = up.contiguous() if gated and up is not None else x
    out = torch.empty_like(x)
    launch = LAUNCH["activation"]
    block_k = block_size(width, launch["cols"])
    grid = (batch * tokens, triton.cdiv(width, block_k))
    _masked_activation_kernel[grid](
        x,
        up,
        table.to(torch.float32).contiguous(),
        ids.to(torch.int64).contiguous(),
        out,
        tokens,
        width,
        KIND=code,
        GATED=gated,
        BLOCK_K=block_k,
        num_warps=launch["num_warps"],
    )
    return out
