"""``lfe extract --backend vllm``: the same store as the transformers engine, from vLLM's own model
classes.

The default suite runs these (``make test`` installs vLLM's CPU build); ``test_vllm_imports`` fails,
not skips, when vLLM is missing, so a machine without it cannot pass the suite by skipping the rest.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from lfe.cli import main
from lfe.corpus import read_corpus
from lfe.engine import ExtractSettings, extract
from lfe.models.families import FAMILIES
from lfe.store import ActivationStore
from tests.helpers import lfe_here, parallel_rows, write_tsv

LONG = (
    "this text runs far past one step's token budget: it goes on with more and more words, "
    "well over a hundred bytes of the byte-level tokenizer, which makes every character a token"
)
BUDGET = 64  # tokens per step: LONG is longer, so it must still run whole
# one family per MLP layout in the default suite (gated, GPT-2's, BLOOM's, Gemma 3's: the demo's);
# LFE_VLLM_FAMILIES=all runs every family (RELIABILITY.md's campaign; after a change to an adapter)
VLLM_FAMILIES = (
    sorted(FAMILIES)
    if os.environ.get("LFE_VLLM_FAMILIES") == "all"
    else ["bloom", "gemma3_text", "gpt2", "llama"]
)


def test_vllm_imports() -> None:
    from lfe.models.vllm_engine import import_vllm

    assert import_vllm().__version__


vllm = pytest.importorskip("vllm")


def _corpus(tmp_path, langs=("en", "fr", "zh")):
    """Duplicate texts, texts sharing a long prefix, and a text longer than one step's budget."""
    rows = parallel_rows(langs=langs, n_sids=6, seed=2)
    shared = "a long shared prefix of many words that goes on and on before it ends"
    extra = [
        (lang, sid, text)
        for lang in langs
        for sid, text in (
            ("dup1", f"{lang} the same text twice"),
            ("dup2", f"{lang} the same text twice"),
            ("pre1", f"{shared} one way {lang}"),
            ("pre2", f"{shared} another way {lang}"),
            ("long", f"{LONG} {lang}"),
        )
    ]
    return read_corpus(write_tsv(tmp_path / "c.tsv", rows + extra))


def _vllm_model(tiny_models, model_type):
    return tiny_models(model_type, size="vllm", bos=model_type not in ("bloom", "gpt2"))


@pytest.mark.parametrize("model_type", VLLM_FAMILIES)
def test_vllm_rows_equal_the_transformers_rows_for_every_family(
    tiny_models, tmp_path, model_type
) -> None:
    model, corpus = _vllm_model(tiny_models, model_type), _corpus(tmp_path)
    assert max(len(text) for text in corpus.texts) > BUDGET
    stores = {}
    for backend in ("hf", "vllm"):
        settings = ExtractSettings(
            batch_tokens=BUDGET, stats=("mean", "positive"), backend=backend, block_rows=16
        )
        extract(
            str(model),
            corpus,
            tmp_path / f"{backend}.zarr",
            settings=settings,
            name="ckpt",
            progress=False,
        )
        stores[backend] = ActivationStore.open(tmp_path / f"{backend}.zarr").checkpoint("ckpt")
    hf, vl = stores["hf"], stores["vllm"]
    rows_hf, rows_vllm = hf.pooled[:], vl.pooled[:]
    relative = np.linalg.norm(rows_vllm - rows_hf, axis=1) / np.linalg.norm(rows_hf, axis=1)
    assert relative.max() < 1e-5, relative.max()
    assert np.array_equal(vl.positive[:], hf.positive[:])
    assert vl.positive[:].sum() > 0
    langs = corpus.row_langs()
    dup = [
        i for i, sid in enumerate(corpus.row_sids()) if sid.startswith("dup") and langs[i] == "en"
    ]
    # the same text, found twice in its batch
    assert np.array_equal(rows_vllm[dup[0]], rows_vllm[dup[1]])
    meta = vl.meta
    assert meta.settings.backend == "vllm"
    assert meta.versions["vllm"] == vllm.__version__
    assert "(vLLM" in meta.read_point
    assert meta.weights_hash == hf.meta.weights_hash


def test_a_resume_with_the_other_backend_is_refused_with_what_differs(
    tiny_models, tmp_path
) -> None:
    model = _vllm_model(tiny_models, "llama")
    _corpus(tmp_path, langs=("en",))  # written as c.tsv
    corpus_file = tmp_path / "c.tsv"
    runner = CliRunner()
    base = [
        "extract",
        str(model),
        "--corpus",
        str(corpus_file),
        "--out",
        str(tmp_path / "r.zarr"),
        "--quiet",
    ]
    first = runner.invoke(main, base)
    assert first.exit_code == 0, first.output
    again = runner.invoke(main, [*base, "--backend", "vllm"])
    assert again.exit_code == 2
    assert "settings.backend: stored 'hf', now 'vllm'" in again.output
    assert "Traceback" not in again.output


@pytest.mark.parametrize(
    "options, message",
    [
        (
            ["--backend", "vllm", "--device", "cuda"],
            "--device cuda, but this vLLM build runs on cpu; pass cpu",
        ),
        (["--tensor-parallel", "2"], "set --backend to vllm"),
        (["--backend", "vllm", "--tensor-parallel", "0"], "--tensor-parallel must be positive"),
        (["--backend", "vllm", "--workers", "2"], "drop --workers and --scheduler"),
    ],
)
def test_bad_vllm_options_are_refused_in_one_line(tiny_models, tmp_path, options, message) -> None:
    model = _vllm_model(tiny_models, "llama")
    corpus = write_tsv(tmp_path / "c.tsv", parallel_rows(langs=("en",), n_sids=2))
    result = CliRunner().invoke(
        main,
        [
            "extract",
            str(model),
            "--corpus",
            str(corpus),
            "--out",
            str(tmp_path / "r.zarr"),
            *options,
        ],
    )
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "r.zarr").exists()


def test_a_vllm_engine_that_will_not_start_is_one_line(tiny_models, tmp_path) -> None:
    model = _vllm_model(tiny_models, "llama")
    corpus = write_tsv(tmp_path / "c.tsv", parallel_rows(langs=("en",), n_sids=2))
    # vLLM's CPU build splits a model over NUMA nodes: this machine has one, so vLLM's own check
    # refuses (an AssertionError inside vLLM, a traceback before)
    failed = CliRunner().invoke(
        main,
        [
            "extract",
            str(model),
            "--corpus",
            str(corpus),
            "--out",
            str(tmp_path / "r.zarr"),
            "--backend",
            "vllm",
            "--tensor-parallel",
            "2",
            "--quiet",
        ],
    )
    assert failed.exit_code == 2, failed.output
    assert "vLLM cannot run" in failed.output
    assert "--tensor-parallel 2" in failed.output
    assert "Traceback" not in failed.output


def test_a_quantized_model_is_refused_before_anything_is_written(tiny_models, tmp_path) -> None:
    import json
    import shutil

    model = tmp_path / "quantized"
    shutil.copytree(_vllm_model(tiny_models, "llama"), model)
    config = json.loads((model / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "fp8", "activation_scheme": "dynamic"}
    (model / "config.json").write_text(json.dumps(config))
    corpus = write_tsv(tmp_path / "c.tsv", parallel_rows(langs=("en",), n_sids=2))
    result = CliRunner().invoke(
        main,
        [
            "extract",
            str(model),
            "--corpus",
            str(corpus),
            "--out",
            str(tmp_path / "r.zarr"),
            "--backend",
            "vllm",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "is quantized (fp8)" in result.output, result.output
    assert not (tmp_path / "r.zarr").exists()


def test_a_random_weights_control_through_vllm_equals_the_transformers_one(
    tiny_models, tmp_path
) -> None:
    model, corpus = _vllm_model(tiny_models, "gemma3_text"), _corpus(tmp_path, langs=("en", "fr"))
    rows = {}
    for backend in ("hf", "vllm"):
        extract(
            str(model),
            corpus,
            tmp_path / f"{backend}.zarr",
            random_init=7,
            progress=False,
            settings=ExtractSettings(backend=backend, batch_tokens=BUDGET),
        )
        store = ActivationStore.open(tmp_path / f"{backend}.zarr")
        [name] = store.checkpoint_names()
        assert name.endswith("random-init-seed7")
        rows[backend] = store.checkpoint(name).pooled[:]
    assert np.abs(rows["vllm"] - rows["hf"]).max() <= 1e-5 * np.abs(rows["hf"]).max()


def _done_blocks(out):
    folder = out / "checkpoints" / "ckpt" / "done" / "c"
    return (
        len([f for f in os.listdir(folder) if not f.endswith(".partial")]) if folder.exists() else 0
    )


def test_a_sigkilled_vllm_extraction_resumes_to_the_uninterrupted_store(
    tiny_models, tmp_path
) -> None:
    model = _vllm_model(tiny_models, "qwen2")
    corpus = write_tsv(tmp_path / "c.tsv", parallel_rows(langs=("en", "fr", "zh", "hi"), n_sids=12))
    command = [
        sys.executable,
        "-m",
        "lfe",
        "extract",
        str(model),
        "--corpus",
        str(corpus),
        "--block-rows",
        "4",
        "--batch-tokens",
        "48",
        "--quiet",
        "--name",
        "ckpt",
        "--backend",
        "vllm",
        "--stats",
        "mean,positive",
        "--out",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    lfe_here(command + [str(tmp_path / "whole.zarr")])
    whole = ActivationStore.open(tmp_path / "whole.zarr").checkpoint("ckpt")
    out, kills = tmp_path / "killed.zarr", []
    # blocks done before the kill: mid-run (RELIABILITY.md's campaign kills more often)
    for target in (4,):
        process = subprocess.Popen(
            command + [str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 120
        while process.poll() is None and _done_blocks(out) < target and time.monotonic() < deadline:
            time.sleep(0.002)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills.append(_done_blocks(out))
    assert any(0 < done < whole.n_blocks for done in kills), (kills, whole.n_blocks)
    lfe_here(command + [str(out)])
    resumed = ActivationStore.open(out).checkpoint("ckpt")
    assert resumed.complete
    assert resumed.pooled[:].tobytes() == whole.pooled[:].tobytes()
    assert resumed.positive[:].tobytes() == whole.positive[:].tobytes()
