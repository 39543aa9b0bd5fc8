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
