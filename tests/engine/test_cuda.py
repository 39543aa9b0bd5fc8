"""The CUDA path: rows on the GPU equal rows on the CPU. Runs where a GPU is
(benchmarks/gpu_check.sh)."""

import numpy as np
import pytest
import torch

from lfe.corpus import read_corpus
from lfe.engine import ExtractSettings, extract
from lfe.store import ActivationStore
from tests.helpers import parallel_rows, write_tsv

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="needs a CUDA device: run benchmarks/gpu_check.sh on a GPU machine",
)


def _rows(model, corpus, out, **settings):
    [report] = extract(
        str(model), corpus, out, settings=ExtractSettings(block_rows=8, **settings), progress=False
    )
    return ActivationStore.open(out).checkpoint(report.name).pooled[:]


@pytest.mark.parametrize("model_type", ["bloom", "llama", "gpt2", "gemma3_text", "qwen3"])
def test_cuda_rows_equal_cpu_rows(model_type, tiny_models, tmp_path) -> None:
    corpus = read_corpus(write_tsv(tmp_path / "c.tsv", parallel_rows(n_sids=10)))
    model = tiny_models(model_type)
    cpu = _rows(model, corpus, tmp_path / "cpu.zarr", device="cpu")
    cuda = _rows(model, corpus, tmp_path / "cuda.zarr", device="cuda")
    # TF32 matmuls on the GPU round to about 1e-3 relative
    np.testing.assert_allclose(cuda, cpu, rtol=2e-3, atol=2e-3 * np.abs(cpu).max())
    half = _rows(
        model,
        corpus,
        tmp_path / "bf16.zarr",
        device="cuda",
        dtype="bfloat16",
        store_dtype="float16",
    )
    np.testing.assert_allclose(half.astype(np.float32), cpu, atol=0.05 * np.abs(cpu).max())


@pytest.mark.parametrize("model_type", ["bloom", "llama"])
def test_triton_pooling_equals_torch_pooling_in_the_engine(
    model_type, tiny_models, tmp_path, monkeypatch
) -> None:
    corpus = read_corpus(write_tsv(tmp_path / "c.tsv", parallel_rows(n_sids=10)))
    model = tiny_models(model_type)
    runs = {}
    for path in ("torch", "triton"):
        monkeypatch.setenv("LFE_KERNELS", path)
        runs[path] = _rows(
            model, corpus, tmp_path / f"{path}.zarr", device="cuda", dtype="bfloat16"
        )
    # the same bf16 activations, pooled in float32 by both paths: only summation order differs
    np.testing.assert_allclose(
        runs["triton"], runs["torch"], rtol=1e-4, atol=1e-5 * np.abs(runs["torch"]).max()
    )


@pytest.mark.parametrize("model_type", ["bloom", "llama", "gpt2", "gemma3_text"])
def test_fused_row_masks_run_the_triton_kernel_and_equal_the_hooks(model_type, tiny_models) -> None:
    from lfe.intervene.deactivate import row_masks
    from lfe.kernels import use_triton
    from lfe.models.loading import load, resolve_source

    loaded = load(resolve_source(str(tiny_models(model_type))), device="cuda")
    model, adapter = loaded.model, loaded.adapter
    total = adapter.n_layers * adapter.n_neurons
    table = np.stack([np.random.default_rng(0).random(total) > 0.2, np.ones(total, dtype=bool)])
    input_ids = torch.randint(0, 250, (2, 9), device="cuda")
    assert use_triton(input_ids)
    with torch.no_grad():
        logits = {}
        for fused in (False, True):
            with row_masks(adapter, table, torch.tensor([0, 1]), fused=fused):
                logits[fused] = model(input_ids=input_ids).logits
    torch.testing.assert_close(logits[True], logits[False], rtol=1e-3, atol=1e-3)
