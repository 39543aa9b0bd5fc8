"""Every Triton kernel against its torch reference, run on CPU in Triton's interpreter (small
shapes)."""

import os

import numpy as np
import pytest
import torch
from transformers.activations import ACT2FN

from lfe.kernels import (
    grouped_column_stats,
    masked_activation,
    masked_mean_pool,
    masked_positive_count,
    packed_mean_pool,
    packed_positive_count,
)
from lfe.kernels.reference import (
    grouped_column_stats_torch,
    masked_activation_torch,
    masked_mean_pool_torch,
    masked_positive_count_torch,
    packed_mean_pool_torch,
    packed_positive_count_torch,
)

try:
    import triton  # noqa: F401

    HAVE_TRITON = True
except ImportError:
    HAVE_TRITON = False

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
# CPU tensors run in Triton's interpreter; benchmarks/gpu_check.sh sets LFE_TEST_DEVICE=cuda to
# compile them.
DEVICE = os.environ.get("LFE_TEST_DEVICE", "cpu")
TOLERANCE = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1e-2}
needs_triton = pytest.mark.skipif(
    not HAVE_TRITON, reason="Triton cannot be imported here (pip install triton)"
)


@pytest.fixture
def triton_path(monkeypatch) -> None:
    monkeypatch.setenv("LFE_KERNELS", "triton")


@needs_triton
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 7, 13), (1, 1, 5), (4, 33, 300)])
def test_masked_mean_pool(dtype, shape, triton_path) -> None:
    batch, tokens, width = shape
    x = torch.randn(shape).to(DEVICE, dtype)
    lengths = torch.randint(1, tokens + 1, (batch,))
    mask = (torch.arange(tokens)[None, :] < lengths[:, None]).to(DEVICE)
    expected = masked_mean_pool_torch(x, mask)
    # a strided view, as the engine's hooks pass
    out = torch.zeros(batch, 2, width, device=DEVICE)[:, 1]
    masked_mean_pool(x, mask, out=out)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("path", ["torch", pytest.param("triton", marks=needs_triton)])
def test_padding_values_never_reach_the_mean(path, monkeypatch) -> None:
    monkeypatch.setenv("LFE_KERNELS", path)
    x = torch.randn(3, 6, 40, device=DEVICE)
    mask = torch.tensor(
        [[1, 1, 1, 0, 0, 0], [0, 0, 1, 1, 1, 1], [1] * 6], dtype=torch.bool, device=DEVICE
    )
    clean = masked_mean_pool(x, mask)
    x[~mask] = float("nan")  # what a fully masked attention row can hold
    torch.testing.assert_close(masked_mean_pool(x, mask), clean, rtol=0, atol=0)
    assert torch.isfinite(clean).all()


@needs_triton
def test_pooling_spans_beyond_one_scan_block(triton_path) -> None:
    # the kernel finds each sample's real span in blocks of 1,024 tokens: real tokens only in the
    # second block, a span across both, a hole inside the span (an excluded special token), none at
    # all
    x = torch.randn(4, 1100, 24, device=DEVICE)
    mask = torch.zeros(4, 1100, dtype=torch.bool, device=DEVICE)
    mask[0, 1050:1090] = True
    mask[1, 1000:1030] = True
    mask[2, 3:700] = True
    mask[2, 300] = False
    pooled = masked_mean_pool(x, mask)
    torch.testing.assert_close(pooled, masked_mean_pool_torch(x, mask), rtol=1e-5, atol=1e-5)
    assert (pooled[3] == 0).all()


@needs_triton
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 7, 13), (1, 1, 5), (2, 1100, 40)])
def test_masked_positive_count_equals_a_token_by_token_count(dtype, shape, triton_path) -> None:
    batch, tokens, width = shape
    x = torch.randn(shape).to(DEVICE, dtype)
    x[..., 0] = 0.0  # exactly zero never counts as fired
    mask = torch.rand(batch, tokens, device=DEVICE) < 0.8  # holes: excluded special tokens
    mask[0, 0] = True
    x[~mask] = float("nan")  # whatever padding holds never counts
    loop = torch.zeros(batch, width, dtype=torch.int32)
    for b, t in mask.nonzero().tolist():
        loop[b] += (x[b, t].float().cpu() > 0).to(torch.int32)
    counted = masked_positive_count(x, mask)
    assert counted.dtype == torch.int32
    assert torch.equal(counted.cpu(), loop)
    assert torch.equal(counted, masked_positive_count_torch(x, mask))


@needs_triton
@pytest.mark.parametrize("dtype", DTYPES)
def test_packed_mean_pool_equals_the_padded_layout(dtype, triton_path) -> None:
    lengths = [5, 1, 9, 2]
    x = torch.randn(sum(lengths), 37).to(DEVICE, dtype)
    offsets = torch.tensor(np.concatenate([[0], np.cumsum(lengths)]), device=DEVICE)
    expected = packed_mean_pool_torch(x, offsets)
    torch.testing.assert_close(packed_mean_pool(x, offsets), expected, rtol=1e-5, atol=1e-5)
    padded = torch.zeros(4, 9, 37, dtype=dtype, device=DEVICE)
    mask = torch.zeros(4, 9, dtype=torch.bool, device=DEVICE)
    for s, (start, n) in enumerate(zip(offsets[:-1], lengths)):
        padded[s, :n] = x[start : start + n]
        mask[s, :n] = True
    torch.testing.assert_close(expected, masked_mean_pool_torch(padded, mask), rtol=1e-5, atol=1e-5)


@needs_triton
@pytest.mark.parametrize("dtype", DTYPES)
def test_packed_positive_count_equals_a_token_by_token_count(dtype, triton_path) -> None:
    lengths = [5, 1, 9, 0, 2]  # an empty sample counts nothing
    x = torch.randn(sum(lengths), 37).to(DEVICE, dtype)
    x[3, :5] = 0.0  # zero does not fire
    offsets = torch.tensor(np.concatenate([[0], np.cumsum(lengths)]), device=DEVICE)
    loop = torch.zeros(len(lengths), 37, dtype=torch.int32)
    for s, (start, n) in enumerate(zip(offsets[:-1].tolist(), lengths)):
        for t in range(start, start + n):
            loop[s] += (x[t].float().cpu() > 0).to(torch.int32)
    counted = packed_positive_count(x, offsets)
    assert counted.dtype == torch.int32
    assert torch.equal(counted.cpu(), loop)
    assert torch.equal(packed_positive_count_torch(x, offsets).cpu(), loop)


@needs_triton
@pytest.mark.parametrize("dtype", DTYPES)
def test_grouped_column_stats_against_float64(dtype, triton_path) -> None:
    a = (torch.randn(50, 300) * 3).to(DEVICE, dtype)
    groups = torch.randint(0, 9, (50,), device=DEVICE)
    expected = [torch.zeros(9, 300, dtype=torch.float64, device=DEVICE) for _ in range(2)]
    for row, group in zip(a.double(), groups):  # float64, one row at a time
        expected[0][group] += row
        expected[1][group] += row * row
    got = grouped_column_stats(a, groups, 9)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g.double(), e, rtol=1e-5, atol=1e-4)


@needs_triton
@pytest.mark.parametrize("rounding", ["nearest-even", "truncation"])
def test_bfloat16_pieces_hold_each_dtype_exactly(rounding) -> None:
    # the statistics kernel's claim, on 100,000 values per dtype over seven orders of magnitude:
    # VALUE_PARTS pieces hold a value, SQUARE_PARTS its float32 square, whether float32 -> bfloat16
    # rounds to nearest even (GPUs) or truncates (Triton's interpreter)
    from lfe.kernels.triton_kernels import BFLOAT16_PIECES

    def to_bfloat16(v):
        if rounding == "nearest-even":
            return v.to(torch.bfloat16).float()
        return (v.view(torch.int32) & -65536).view(torch.float32)

    def pieces_sum(v, parts):
        rest, total = v, torch.zeros_like(v, dtype=torch.float64)
        for _ in range(parts):
            piece = to_bfloat16(rest)
            total += piece.double()
            rest = rest - piece
        return total

    generator = torch.Generator().manual_seed(0)
    for dtype, (value_parts, square_parts) in BFLOAT16_PIECES.items():
        values = (
            (
                torch.randn(100_000, generator=generator)
                * 10.0 ** torch.randint(-3, 4, (100_000,), generator=generator)
            )
            .to(dtype)
            .float()
        )
        for data, parts in ((values, value_parts), (values * values, square_parts)):
            assert torch.equal(pieces_sum(data, parts), data.double()), dtype
            # and one piece fewer would not do: the table asks for no more dots than it must
            assert parts == 1 or not torch.equal(pieces_sum(data, parts - 1), data.double()), dtype


@needs_triton
def test_grouped_column_stats_of_row_blocks_merge(triton_path) -> None:
    # S(A ∪ B) = S(A) + S(B) + Σ_A · Σ_B: blocks of rows (or checkpoints' shards) combine exactly
    a = torch.randn(60, 50, device=DEVICE)
    groups = torch.randint(0, 5, (60,), device=DEVICE)
    whole = grouped_column_stats(a, groups, 5)
    first, second = (
        grouped_column_stats(a[:23], groups[:23], 5),
        grouped_column_stats(a[23:], groups[23:], 5),
    )
    merged = (
        first[0] + second[0],
        first[1] + second[1],
        first[2] + second[2] + first[0] * second[0],
    )
    for m, w in zip(merged, whole):
        torch.testing.assert_close(m, w, rtol=1e-4, atol=1e-4)


@needs_triton
def test_grouped_column_stats_names_the_dtypes_it_takes(triton_path) -> None:
    with pytest.raises(TypeError, match="float32, float16 or bfloat16"):
        grouped_column_stats(
            torch.ones(4, 8, dtype=torch.float64, device=DEVICE),
            torch.zeros(4, dtype=torch.int64, device=DEVICE),
            1,
        )


@needs_triton
@pytest.mark.parametrize("dtype", DTYPES)
def test_grouped_column_stats_with_empty_and_one_row_groups(dtype, triton_path) -> None:
    a = torch.randn(20, 70).to(DEVICE, dtype)
    groups = torch.tensor([0] * 12 + [2] + [3] * 7, device=DEVICE)  # group 1 empty, group 2 one row
    got = grouped_column_stats(a, groups, 4)
    expected = grouped_column_stats_torch(a, groups, 4)
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4)
    assert (got[0][1] == 0).all()
    assert (got[2][2] == 0).all()
    # one row's value and float32 square come back exactly: the bfloat16 pieces lose no bit
    assert torch.equal(got[0][2], a[12].float())
    assert torch.equal(got[1][2], a[12].float() ** 2)
    # the brute-force pair sum, in float64
    rows = a[:12].double()
    brute = sum(rows[i] * rows[j] for i in range(12) for j in range(i + 1, 12))
    torch.testing.assert_close(expected[2][0].double(), brute, rtol=1e-4, atol=1e-3)
    # more groups than one program's 16, interleaved
    many = torch.arange(40, device=DEVICE) % 20
    wide = torch.randn(40, 33).to(DEVICE, dtype)
    for g, e in zip(
        grouped_column_stats(wide, many, 21), grouped_column_stats_torch(wide, many, 21)
    ):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4)
    # row order does not change the statistics (the kernel reads the rows in their own order)
    order = torch.randperm(20, generator=torch.Generator().manual_seed(0)).to(DEVICE)
    for g, e in zip(grouped_column_stats(a[order], groups[order], 4), got):
        torch.testing.assert_close(g, e, rtol=1e-4, atol=1e-4)


@needs_triton
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "kind", ["gelu_tanh", "gelu_new", "silu_gate", "gelu_gate", "gelu_tanh_gate"]
)
def test_masked_activation_with_a_mask_per_row(kind, dtype, triton_path) -> None:
    x, up = torch.randn(3, 5, 45).to(DEVICE, dtype), torch.randn(3, 5, 45).to(DEVICE, dtype)
    table = torch.ones(2, 45, device=DEVICE)
    table[1, ::3] = 0
    ids = torch.tensor([1, 0, 1], device=DEVICE)
    got = masked_activation(kind, x, up, table, ids)
    expected = masked_activation_torch(kind, x, up, table, ids)
    torch.testing.assert_close(
        got.float(), expected.float(), rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype]
    )
    assert (got[0, :, ::3] == 0).all()
    assert not (got[1, :, ::3] == 0).all()


@pytest.mark.parametrize(
    "kind, act, gated",
    [
        ("gelu_tanh", "gelu_pytorch_tanh", False),
        ("gelu_new", "gelu_new", False),
        ("silu_gate", "silu", True),
        ("gelu_gate", "gelu", True),
        ("gelu_tanh_gate", "gelu_pytorch_tanh", True),
    ],
)
def test_reference_activations_equal_the_model_families(kind, act, gated) -> None:
    x, up = torch.randn(2, 4, 19), torch.randn(2, 4, 19)
    expected = ACT2FN[act](x) * (up if gated else 1)
    got = masked_activation_torch(kind, x, up, torch.ones(1, 19), torch.zeros(2, dtype=torch.long))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_torch_path_is_the_default_on_cpu(monkeypatch) -> None:
    from lfe.kernels import use_triton

    monkeypatch.delenv("LFE_KERNELS", raising=False)
    assert not use_triton(torch.zeros(1))
    monkeypatch.setenv("LFE_KERNELS", "cuda")
    with pytest.raises(ValueError, match="is not one of auto, torch, triton"):
        use_triton(torch.zeros(1))


@needs_triton
def test_analysis_on_torch_panels_equals_numpy(triton_path) -> None:
    """`lfe analyze --device cuda`'s arithmetic (matmul Gram, grouped statistics kernel) gives
    numpy's results."""
    from lfe.analysis import analyze
    from lfe.kernels.panels import TorchPanels
    from lfe.records import AnalysisSettings
    from tests.helpers import planted

    pooled, langs, sids = planted(n_langs=6, n_sids=7, layers=((2.0, 1.0), (0.5, 1.5)), width=40)
    pooled = pooled + np.random.default_rng(1).normal(scale=0.3, size=pooled.shape)
    # languages interleaved, as rows may be
    order = np.random.default_rng(2).permutation(len(langs))
    pooled, langs, sids = pooled[order], [langs[i] for i in order], [sids[i] for i in order]
    norms = np.linalg.norm(pooled, axis=1)
    settings = AnalysisSettings(threshold=1.5, n_boot=10)
    numpy_result = analyze(pooled, langs, sids, 2, 40, settings=settings, norms=norms)
    torch_result = analyze(
        pooled, langs, sids, 2, 40, settings=settings, norms=norms, panels_math=TorchPanels(DEVICE)
    )
    np.testing.assert_allclose(
        torch_result.similarity, numpy_result.similarity, rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(torch_result.zscores, numpy_result.zscores, rtol=1e-4, atol=1e-4)
    assert torch_result.whole.lrds == pytest.approx(numpy_result.whole.lrds, abs=1e-5)
    assert (torch_result.regions == numpy_result.regions).mean() > 0.999
    assert torch_result.params.arithmetic == f"torch-{DEVICE}"
    assert numpy_result.params.arithmetic == "numpy"


def test_the_cpu_panels_equal_numpys_bit_for_bit_on_float16_rows() -> None:
    """`lfe analyze`'s CPU arithmetic (numpy, float16 widened by torch) changes no number."""
    from lfe.analysis import analyze
    from lfe.kernels.panels import CpuPanels
    from lfe.records import AnalysisSettings
    from tests.helpers import planted

    pooled, langs, sids = planted(n_langs=6, n_sids=7, layers=((2.0, 1.0), (0.5, 1.5)), width=40)
    rows = (pooled + np.random.default_rng(1).normal(scale=0.3, size=pooled.shape)).astype(
        np.float16
    )
    rows[0, :3] = [np.float16(6e-8), np.float16(-0.0), np.float16(65504)]  # subnormal, -0, max
    settings = AnalysisSettings(threshold=1.5, n_boot=10)
    numpy_result = analyze(rows, langs, sids, 2, 40, settings=settings)
    cpu_result = analyze(rows, langs, sids, 2, 40, settings=settings, panels_math=CpuPanels())
    np.testing.assert_array_equal(cpu_result.similarity, numpy_result.similarity)
    np.testing.assert_array_equal(cpu_result.zscores, numpy_result.zscores)
    assert cpu_result.whole == numpy_result.whole
    assert cpu_result.params == numpy_result.params
