"""The CUDA path: rows on the GPU equal rows on the CPU. Runs where a GPU is (benchmarks/gpu_check.sh)."""

import numpy as np
import pytest
import torch

from lfe.corpus import read_corpus
from lfe.engine import ExtractSettings, extract
from lfe.store import ActivationStore
from tests.conftest import parallel_rows, write_tsv

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device: run benchmarks/gpu_check.sh on a GPU machine"
)


def _rows(model, corpus, out, **settings):
    [report] = extract(str(model), corpus, out, settings=ExtractSettings(block_rows=8, **settings), progress=False)
    return ActivationStore.open(out).checkpoint(report.name).pooled[:]


@pytest.mark.parametrize("model_type", ["bloom", "llama", "gpt2", "gemma3_text", "qwen3"])
def test_cuda_rows_equal_cpu_rows(model_type, tiny_models, tmp_path):
    corpus = read_corpus(write_tsv(tmp_path / "c.tsv", parallel_rows(n_sids=10)))
    model = tiny_models(model_type)
    cpu = _rows(model, corpus, tmp_path / "cpu.zarr", device="cpu")
    cuda = _rows(model, corpus, tmp_path / "cuda.zarr", device="cuda")
    # TF32 matmuls on the GPU round to about 1e-3 relative
    np.testing.assert_allclose(cuda, cpu, rtol=2e-3, atol=2e-3 * np.abs(cpu).max())
    half = _rows(model, corpus, tmp_path / "bf16.zarr", device="cuda", dtype="bfloat16", store_dtype="float16")
    np.testing.assert_allclose(half.astype(np.float32), cpu, atol=0.05 * np.abs(cpu).max())


@pytest.mark.parametrize("model_type", ["bloom", "llama"])
def test_triton_pooling_equals_torch_pooling_in_the_engine(model_type, tiny_models, tmp_path, monkeypatch):
    corpus = read_corpus(write_tsv(tmp_path / "c.tsv", parallel_rows(n_sids=10)))
    model = tiny_models(model_type)
    runs = {}
    for path in ("torch", "triton"):
        monkeypatch.setenv("LFE_KERNELS", path)
        runs[path] = _rows(model, corpus, tmp_path / f"{path}.zarr", device="cuda", dtype="bfloat16")
    # the same bf16 activations, pooled in float32 by both paths: only summation order differs
    np.testing.assert_allclose(runs["triton"], runs["torch"], rtol=1e-4, atol=1e-5 * np.abs(runs["torch"]).max())
