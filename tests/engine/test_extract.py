"""Extraction end to end on tiny models: resume, refusal of foreign stores, hub revisions,
dtypes."""

import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from lfe.corpus import read_corpus
from lfe.engine import ExtractSettings, extract
from lfe.errors import LfeError, StoreError
from lfe.models.tiny import build_tiny_model
from lfe.records import ModelSource
from lfe.store import ActivationStore
from tests.helpers import parallel_rows, write_tsv

SETTINGS = ExtractSettings(batch_tokens=256, block_rows=8)


@pytest.fixture
def corpus(tmp_path):
    return read_corpus(write_tsv(tmp_path / "c.tsv", parallel_rows(n_sids=10)))


def _pooled(path, name):
    return ActivationStore.open(path).checkpoint(name).pooled[:]


def test_resume_recomputes_only_missing_blocks_bit_identically(
    tiny_models, corpus, tmp_path, monkeypatch
) -> None:
    model = str(tiny_models("llama"))
    extract(model, corpus, tmp_path / "full.zarr", settings=SETTINGS, progress=False)
    full = _pooled(tmp_path / "full.zarr", "llama-tiny-0")

    shutil.copytree(tmp_path / "full.zarr", tmp_path / "cut.zarr")
    checkpoint = ActivationStore.open(tmp_path / "cut.zarr", "r+").checkpoint("llama-tiny-0")
    checkpoint.done[1] = False  # as if killed after writing block 1's data but before its flag
    checkpoint.done[3] = False
    checkpoint.pooled[24:30] = 0  # and block 3's data never made it
    computed = []
    real_write_block = type(checkpoint).write_block
    monkeypatch.setattr(
        type(checkpoint),
        "write_block",
        lambda self, block, *args: (computed.append(block), real_write_block(self, block, *args)),
    )
    [report] = extract(model, corpus, tmp_path / "cut.zarr", settings=SETTINGS, progress=False)
    assert computed == [1, 3]
    assert report.rows == 8 + 6
    assert _pooled(tmp_path / "cut.zarr", "llama-tiny-0").tobytes() == full.tobytes()


def test_rerunning_a_finished_run_loads_nothing(tiny_models, corpus, tmp_path, monkeypatch) -> None:
    model = str(tiny_models("gpt2"))
    extract(model, corpus, tmp_path / "run.zarr", settings=SETTINGS, progress=False)
    from transformers import AutoModelForCausalLM

    monkeypatch.setattr(
        AutoModelForCausalLM,
        "from_pretrained",
        lambda *a, **k: pytest.fail("a finished run loaded the model"),
    )
    [report] = extract(model, corpus, tmp_path / "run.zarr", settings=SETTINGS, progress=False)
    assert report.status == report.COMPLETE == "already complete"


def test_foreign_corpus_settings_and_weights_are_refused(tiny_models, corpus, tmp_path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_models("qwen2"), model_dir)
    store = tmp_path / "run.zarr"
    extract(str(model_dir), corpus, store, settings=SETTINGS, progress=False)
    before = _pooled(store, "model")

    other = read_corpus(write_tsv(tmp_path / "o.tsv", parallel_rows(n_sids=10, seed=1)))
    with pytest.raises(
        StoreError, match=r"another corpus \(fingerprint: stored '\w{12}', now '\w{12}'"
    ):
        extract(str(model_dir), other, store, settings=SETTINGS, progress=False)
    with pytest.raises(
        StoreError, match=r"other inputs \(settings.dtype: stored 'float32', now 'bfloat16'"
    ):
        extract(
            str(model_dir),
            corpus,
            store,
            settings=ExtractSettings(batch_tokens=256, block_rows=8, dtype="bfloat16"),
            progress=False,
        )
    # another policy
    with pytest.raises(StoreError, match=r"settings.special_tokens: stored 'exclude', now 'none'"):
        extract(
            str(model_dir),
            corpus,
            store,
            settings=replace(SETTINGS, special_tokens="none"),
            progress=False,
        )
    # other weights at the same path: found though the store is complete
    build_tiny_model("qwen2", model_dir, seed=1)
    with pytest.raises(
        StoreError, match=r"a model with other weights \(stored sha256 \w{12}, now \w{12}\)"
    ):
        extract(str(model_dir), corpus, store, settings=SETTINGS, progress=False)
    checkpoint = ActivationStore.open(store, "r+").checkpoint("model")
    checkpoint.done[0] = False  # and so they are when it is unfinished
    with pytest.raises(
        StoreError, match=r"a model with other weights \(stored sha256 \w{12}, now \w{12}\)"
    ):
        extract(str(model_dir), corpus, store, settings=SETTINGS, progress=False)
    checkpoint.done[0] = True
    assert _pooled(store, "model").tobytes() == before.tobytes()  # nothing was lost

    [report] = extract(
        str(model_dir), corpus, store, settings=SETTINGS, overwrite=True, progress=False
    )
    assert report.status == "written"
    assert report.rows == len(corpus)
    assert not np.array_equal(_pooled(store, "model"), before)
    [report] = extract(
        str(model_dir), other, store, settings=SETTINGS, overwrite=True, progress=False
    )
    assert ActivationStore.open(store).corpus.fingerprint == other.fingerprint


def test_checkpoint_records_every_parameter(tiny_models, corpus, tmp_path) -> None:
    extract(
        str(tiny_models("bloom")),
        corpus,
        tmp_path / "run.zarr",
        settings=SETTINGS,
        name="step0",
        progress=False,
    )
    store = ActivationStore.open(tmp_path / "run.zarr")
    meta = store.checkpoint("step0").meta
    assert meta.settings.to_dict() == {**SETTINGS.to_dict(), "block_rows": 8}
    assert meta.family == "bloom"
    assert meta.read == "output"
    assert meta.n_layers == 2
    assert len(meta.weights_hash) == 64
    assert len(meta.tokenizer_hash) == 64
    assert store.corpus.fingerprint == corpus.fingerprint
    assert store.corpus.languages == ("en", "fr", "zh")
    checkpoint = store.checkpoint("step0")
    np.testing.assert_allclose(
        checkpoint.norms[:],
        np.linalg.norm(checkpoint.pooled[:].astype(np.float64), axis=1),
        rtol=1e-6,
    )  # computed on the device, in float32
    n_tokens = store.checkpoint("step0").n_tokens
    # byte-level tokenizer, no special tokens
    assert n_tokens[0] == len(corpus.texts[0].encode("utf-8"))


def test_float16_store_and_bfloat16_model(tiny_models, corpus, tmp_path) -> None:
    model = str(tiny_models("gemma3_text"))
    extract(model, corpus, tmp_path / "a.zarr", settings=SETTINGS, progress=False)
    extract(
        model,
        corpus,
        tmp_path / "b.zarr",
        progress=False,
        settings=ExtractSettings(
            batch_tokens=256, block_rows=8, store_dtype="float16", dtype="bfloat16"
        ),
    )
    exact, half = (
        _pooled(tmp_path / "a.zarr", "gemma3_text-tiny-0"),
        _pooled(tmp_path / "b.zarr", "gemma3_text-tiny-0"),
    )
    assert half.dtype == np.float16
    scale = np.abs(exact).max()
    np.testing.assert_allclose(half.astype(np.float32), exact, atol=0.05 * scale)


def test_non_finite_rows_are_reported_and_never_marked_done(tiny_models, corpus, tmp_path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_models("llama"), model_dir)
    from transformers import AutoModelForCausalLM

    broken = AutoModelForCausalLM.from_pretrained(model_dir)
    with torch.no_grad():
        broken.model.layers[1].mlp.up_proj.weight.fill_(float("nan"))
    broken.save_pretrained(model_dir)
    with pytest.raises(LfeError, match=r"non-finite activations for en/0, en/1"):
        extract(str(model_dir), corpus, tmp_path / "run.zarr", settings=SETTINGS, progress=False)
    checkpoint = ActivationStore.open(tmp_path / "run.zarr").checkpoint("model")
    assert not checkpoint.done[:].any()


def test_texts_longer_than_the_context_are_named(tiny_models, tmp_path) -> None:
    rows = parallel_rows(n_sids=3)
    rows[1] = ("en", "1", "x" * 600)  # the tiny models have 512 positions
    corpus = read_corpus(write_tsv(tmp_path / "c.tsv", rows))
    with pytest.raises(
        LfeError, match=r"1 text\(s\) are longer than the model's context of 512 tokens: en/1 \(600"
    ):
        extract(
            str(tiny_models("llama")),
            corpus,
            tmp_path / "run.zarr",
            settings=SETTINGS,
            progress=False,
        )
    [report] = extract(
        str(tiny_models("llama")),
        corpus,
        tmp_path / "run.zarr",
        progress=False,
        settings=ExtractSettings(batch_tokens=1024, block_rows=8, max_tokens=512),
    )
    assert report.rows == len(corpus)
    assert (
        ActivationStore.open(tmp_path / "run.zarr")
        .checkpoint("llama-tiny-0")
        .meta.settings.max_tokens
        == 512
    )


def test_hub_ids_and_revisions_load_from_the_local_cache(
    tiny_models, corpus, tmp_path, monkeypatch
) -> None:
    """The real hub loader, offline: a cache laid out as huggingface_hub lays it out."""
    repo = tmp_path / "hub" / "models--lfe-test--tiny-mistral"
    for revision, seed in (("step1", 0), ("step2", 1)):
        commit = f"{seed + 1:040x}"
        build_tiny_model("mistral", repo / "snapshots" / commit, seed=seed)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / revision).write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    reports = extract(
        "lfe-test/tiny-mistral",
        corpus,
        tmp_path / "run.zarr",
        revisions=("step1", "step2"),
        settings=SETTINGS,
        progress=False,
    )
    assert [r.name for r in reports] == ["step1", "step2"]
    store = ActivationStore.open(tmp_path / "run.zarr")
    one, two = store.checkpoint("step1").meta, store.checkpoint("step2").meta
    assert one.source == ModelSource("hub", "lfe-test/tiny-mistral", "step1")
    assert one.weights_hash != two.weights_hash
    assert not np.array_equal(
        store.checkpoint("step1").pooled[:], store.checkpoint("step2").pooled[:]
    )
    from lfe.errors import ModelError

    with pytest.raises(
        ModelError,
        match=(
            r"(?s)cannot read the config of lfe-test/absent.*nor is it in the local Hugging Face"
            r" cache"
        ),
    ):
        extract("lfe-test/absent", corpus, tmp_path / "x.zarr", settings=SETTINGS, progress=False)


def test_bad_settings_are_clear() -> None:
    with pytest.raises(LfeError, match=r"batch_tokens must be positive, got 0; store_dtype 'int8'"):
        ExtractSettings(batch_tokens=0, store_dtype="int8")


def test_float16_overflow_is_named_with_the_fix(tiny_models, corpus, tmp_path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_models("llama"), model_dir)
    from transformers import AutoModelForCausalLM

    loud = AutoModelForCausalLM.from_pretrained(model_dir)
    with torch.no_grad():
        for layer in loud.model.layers:
            layer.mlp.up_proj.weight.mul_(3000.0)
            layer.mlp.gate_proj.weight.mul_(3000.0)
    loud.save_pretrained(model_dir)
    half = ExtractSettings(batch_tokens=256, block_rows=8, store_dtype="float16")
    with pytest.raises(LfeError, match=r"overflow float16: pass store_dtype float32"):
        extract(str(model_dir), corpus, tmp_path / "run.zarr", settings=half, progress=False)
    [report] = extract(
        str(model_dir), corpus, tmp_path / "ok.zarr", settings=SETTINGS, progress=False
    )
    assert np.abs(_pooled(tmp_path / "ok.zarr", "model")).max() > 65504  # float32 keeps them


def test_a_changed_tokenizer_is_refused_on_resume(tiny_models, corpus, tmp_path) -> None:
    from transformers import AutoTokenizer

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_models("gpt2"), model_dir)
    extract(str(model_dir), corpus, tmp_path / "run.zarr", settings=SETTINGS, progress=False)
    ActivationStore.open(tmp_path / "run.zarr", "r+").checkpoint("model").done[0] = False
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.add_tokens(["chat"])
    tokenizer.save_pretrained(model_dir)
    with pytest.raises(StoreError, match=r"other tokenizer \(stored sha256"):
        extract(str(model_dir), corpus, tmp_path / "run.zarr", settings=SETTINGS, progress=False)


def test_a_random_weights_control_is_named_seeded_and_reported_beside_the_trained_model(
    tiny_models, tmp_path
) -> None:
    from lfe.records import AnalysisSettings
    from lfe.workflows.analyze import analyze_store

    langs = ("en", "fr", "zh", "hi", "ar", "es")
    corpus = read_corpus(write_tsv(tmp_path / "c.tsv", parallel_rows(langs=langs, n_sids=6)))
    model = str(tiny_models("llama"))
    extract(model, corpus, tmp_path / "run.zarr", progress=False)
    [control] = extract(model, corpus, tmp_path / "run.zarr", random_init=3, progress=False)
    assert control.name == "llama-tiny-0-random-init-seed3"
    store = ActivationStore.open(tmp_path / "run.zarr")
    trained, random = store.checkpoint("llama-tiny-0").meta, store.checkpoint(control.name).meta
    assert random.source.random_init == 3
    assert trained.source.random_init is None
    assert random.weights_hash != trained.weights_hash
    assert random.tokenizer_hash == trained.tokenizer_hash
    # seeded: the same weights
    [again] = extract(model, corpus, tmp_path / "again.zarr", random_init=3, progress=False)
    assert (
        ActivationStore.open(tmp_path / "again.zarr").checkpoint(again.name).meta.weights_hash
        == random.weights_hash
    )

    records = analyze_store(
        tmp_path / "run.zarr",
        settings=AnalysisSettings(threshold=1.5, n_boot=0, null=10),
        out=tmp_path / "analysis",
        figures=False,
        progress=False,
    )
    beside = records["llama-tiny-0"].random_weights
    assert beside is not None
    assert beside.checkpoint == control.name
    assert beside.seed == 3
    assert beside.whole == records[control.name].whole
    assert records[control.name].random_weights is None
    report = (tmp_path / "analysis" / "llama-tiny-0" / "report.md").read_text()
    assert "| measure | trained | random weights | shuffled labels |" in report


def test_a_failed_first_extract_leaves_no_store_and_an_empty_folder_is_a_fine_out(
    tiny_models, corpus, tmp_path
) -> None:
    long_text = read_corpus(
        write_tsv(tmp_path / "long.tsv", [(lang, "0", "word " * 600) for lang in ("en", "fr")])
    )
    # found after the store was opened
    with pytest.raises(LfeError, match="longer than the model's context"):
        extract(
            str(tiny_models("gpt2")),
            long_text,
            tmp_path / "run.zarr",
            settings=SETTINGS,
            progress=False,
        )
    # so another corpus is not refused as "another corpus" later
    assert not (tmp_path / "run.zarr").exists()
    [report] = extract(
        str(tiny_models("gpt2")), corpus, tmp_path / "run.zarr", settings=SETTINGS, progress=False
    )
    assert report.status == report.WRITTEN
    (tmp_path / "made.zarr").mkdir()  # an empty folder made beforehand
    [report] = extract(
        str(tiny_models("gpt2")), corpus, tmp_path / "made.zarr", settings=SETTINGS, progress=False
    )
    assert ActivationStore.open(tmp_path / "made.zarr").checkpoint(report.name).complete


def test_touched_model_files_with_the_same_weights_stay_complete(
    tiny_models, corpus, tmp_path
) -> None:
    import os

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_models("gpt2"), model_dir)
    extract(str(model_dir), corpus, tmp_path / "run.zarr", settings=SETTINGS, progress=False)
    before = _pooled(tmp_path / "run.zarr", "model")
    # the files look new: the weights are compared
    os.utime(model_dir / "model.safetensors", ns=(10**18, 10**18))
    [report] = extract(
        str(model_dir), corpus, tmp_path / "run.zarr", settings=SETTINGS, progress=False
    )
    assert report.status == report.COMPLETE
    assert _pooled(tmp_path / "run.zarr", "model").tobytes() == before.tobytes()
