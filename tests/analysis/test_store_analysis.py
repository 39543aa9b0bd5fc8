"""`lfe analyze` on stores: the Dask path equals the in-memory path; results land in the store and
in files."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from lfe.analysis import AnalysisError, analyze
from lfe.cli import main
from lfe.errors import StoreError
from lfe.records import AnalysisSettings, CheckpointMeta
from lfe.store import ActivationStore
from lfe.workflows.analyze import analyze_store
from tests.helpers import planted, store_of_rows

AT_1_5 = AnalysisSettings(threshold=1.5, n_boot=0)


def planted_store(path, n_langs=6, n_sids=10, block_rows=7, complete=True):
    pooled, langs, sids = planted(
        n_langs=n_langs, n_sids=n_sids, layers=((1.0, 2.0), (3.0, 0.5), (0.5, 0.5))
    )
    pooled = (pooled + np.random.default_rng(0).normal(scale=0.2, size=pooled.shape)).astype(
        np.float16
    )
    store = store_of_rows(path, langs, sids)
    meta = CheckpointMeta(
        n_layers=3, n_neurons=40, block_rows=block_rows, store_dtype="float16", weights_hash="w"
    )
    checkpoint = store.create_checkpoint("step1", meta, np.ones(len(langs), np.int32))
    for block in range(checkpoint.n_blocks - (0 if complete else 1)):
        checkpoint.write_block(block, pooled[checkpoint.block_slice(block)])
    return pooled, langs, sids


def test_dask_path_equals_the_in_memory_path(tmp_path) -> None:
    pooled, langs, sids = planted_store(tmp_path / "run.zarr")
    lazy = ActivationStore.open(tmp_path / "run.zarr").checkpoint("step1").as_dask()
    assert lazy.chunks[0][0] == 7  # row blocks that cut across languages
    settings = AnalysisSettings(threshold=1.5, n_boot=20)
    from_store = analyze(lazy, langs, sids, 3, 40, settings=settings)
    in_memory = analyze(pooled, langs, sids, 3, 40, settings=settings)
    np.testing.assert_array_equal(from_store.similarity, in_memory.similarity)
    np.testing.assert_array_equal(from_store.zscores, in_memory.zscores)
    assert from_store.whole == in_memory.whole
    assert from_store.layers == in_memory.layers


def test_results_go_into_the_store_and_the_folder_with_their_parameters(tmp_path) -> None:
    planted_store(tmp_path / "run.zarr")
    settings = AnalysisSettings(threshold=1.5, n_boot=30, seed=3)
    [record] = analyze_store(tmp_path / "run.zarr", settings=settings, progress=False).values()
    opened = ActivationStore.open(tmp_path / "run.zarr")
    stored = opened.analysis("step1")
    assert stored == record
    assert stored.params == settings
    assert stored.corpus_fingerprint == opened.corpus.fingerprint
    assert stored.weights_hash == "w"
    regions = opened.analysis_arrays("step1").regions
    assert regions.sum() == record.sklr > 0
    folder = tmp_path / "run-analysis" / "step1"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["sklr"] == record.sklr
    assert len(metrics["layers"]) == 3
    assert metrics["params"]["threshold"] == 1.5
    assert metrics["params"]["seed"] == 3
    for name in (
        "similarity_map",
        "layer_lrds_sads",
        "key_neurons_per_layer",
        "region_sizes",
        "region_overlap",
    ):
        assert (folder / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        (folder / "layers.csv").read_text().splitlines()[0]
        == "layer,lrds,sads,lrds_low,lrds_high,sads_low,sads_high,lrds_null_mean,lrds_null_p95,"
        "lrds_null_p_value,sads_null_mean,sads_null_p95,sads_null_p_value"
    )
    report = (folder / "report.md").read_text()
    assert "| LRDS | " in report
    assert "1000: language labels permuted within each sid" in report
    assert stored.whole.lrds_null is not None
    assert stored.whole.lrds_null.permutations == 1000
    assert stored.region_null is not None
    assert "| all (SKLR) |" in report
    assert "above chance" in report


def test_an_incomplete_store_is_refused(tmp_path) -> None:
    planted_store(tmp_path / "run.zarr", complete=False)
    with pytest.raises(
        StoreError, match=r"incomplete \(8/9 blocks\): rerun the same `lfe extract`"
    ):
        analyze_store(tmp_path / "run.zarr", progress=False)


def test_cli_analyze_reports_and_explains_errors(tmp_path) -> None:
    planted_store(tmp_path / "run.zarr")
    result = CliRunner().invoke(
        main,
        [
            "analyze",
            str(tmp_path / "run.zarr"),
            "--threshold",
            "1.5",
            "--quiet",
            "--no-figures",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "step1: LRDS" in result.output
    assert "SKLR" in result.output
    assert not list((tmp_path / "out" / "step1").glob("*.png"))
    result = CliRunner().invoke(
        main, ["analyze", str(tmp_path / "run.zarr"), "--threshold", "3", "--quiet"]
    )
    assert result.exit_code == 2
    assert "largest possible z is sqrt(6-1) = 2.236" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(
        main, ["analyze", str(tmp_path / "run.zarr"), "--checkpoint", "nope"]
    )
    assert result.exit_code == 2
    assert "has no checkpoint 'nope'; it has step1" in result.output


def test_one_pass_with_stored_norms_equals_two_passes_and_damaged_norms_are_caught(
    tmp_path,
) -> None:
    pooled, langs, sids = planted_store(tmp_path / "run.zarr")
    checkpoint = ActivationStore.open(tmp_path / "run.zarr", "r+").checkpoint("step1")
    norms = checkpoint.norms[:]
    np.testing.assert_allclose(norms, np.linalg.norm(pooled.astype(np.float64), axis=1), rtol=1e-12)
    two = analyze(pooled, langs, sids, 3, 40, settings=AT_1_5)
    one = analyze(checkpoint.as_dask(), langs, sids, 3, 40, settings=AT_1_5, norms=norms)
    np.testing.assert_allclose(one.zscores, two.zscores, atol=1e-5)
    np.testing.assert_array_equal(one.regions, two.regions)
    damaged = norms.copy()
    damaged[4] *= 1.5
    with pytest.raises(
        AnalysisError, match=r"stored row norms do not match the rows \(worst: l0/4\)"
    ):
        analyze(pooled, langs, sids, 3, 40, settings=AT_1_5, norms=damaged)


def test_analyze_on_a_missing_gpu_is_a_clear_error(tmp_path) -> None:
    planted_store(tmp_path / "run.zarr")
    result = CliRunner().invoke(
        main,
        [
            "analyze",
            str(tmp_path / "run.zarr"),
            "--device",
            "cuda",
            "--threshold",
            "1.5",
            "--quiet",
        ],
    )
    if torch_has_cuda():
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 2
        assert "no CUDA device; use --device cpu" in result.output
    bad = CliRunner().invoke(
        main, ["analyze", str(tmp_path / "run.zarr"), "--device", "gpu", "--quiet"]
    )
    assert bad.exit_code == 2
    assert "is not a device" in bad.output


def torch_has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def test_contradictory_and_out_of_range_analysis_options_are_one_line_errors(tmp_path) -> None:
    planted_store(tmp_path / "run.zarr")
    for options, message in (
        (
            ["--threshold", "1.5", "--top-percent", "5"],
            "pass --threshold or --top-percent, not both",
        ),
        (["--threshold", "nan"], "--threshold must be a finite number, got nan"),
        (["--bootstrap", "1"], "--bootstrap must be 0 (no interval) or at least 10"),
        (["--bootstrap", "-1"], "--bootstrap must be 0 (no interval)"),
        (["--seed", "-1"], "--seed must be 0 or more, got -1"),
        (["--null", "-3"], "--null must be 0 or more, got -3"),
    ):
        result = CliRunner().invoke(
            main, ["analyze", str(tmp_path / "run.zarr"), "--quiet", *options]
        )
        assert result.exit_code == 2, options
        assert message in result.output, options
        assert "Traceback" not in result.output, options
    # nothing was written
    assert not ActivationStore.open(tmp_path / "run.zarr").has_analysis("step1")


def test_a_read_only_store_is_analysed_into_the_folder_only(tmp_path, monkeypatch, caplog) -> None:
    import os

    planted_store(tmp_path / "run.zarr")
    # as for another user (root may write anywhere)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    [record] = analyze_store(
        tmp_path / "run.zarr",
        settings=AnalysisSettings(threshold=1.5, n_boot=0, null=0),
        out=tmp_path / "out",
        figures=False,
        progress=False,
    ).values()
    assert "is read-only: the analysis is written to" in caplog.text
    assert (
        json.loads((tmp_path / "out" / "step1" / "metrics.json").read_text())["sklr"] == record.sklr
    )
    monkeypatch.undo()
    assert not ActivationStore.open(tmp_path / "run.zarr").has_analysis("step1")


def test_analysis_on_two_workers_equals_one_process_controls_included(
    tiny_models, tmp_path
) -> None:
    from lfe.corpus import read_corpus
    from lfe.engine import extract
    from lfe.workflows.analyze import analyze_on_cluster, analyze_store
    from lfe.workflows.cluster import cluster
    from tests.helpers import parallel_rows, write_tsv

    corpus = read_corpus(
        write_tsv(
            tmp_path / "c.tsv", parallel_rows(langs=("en", "fr", "zh", "hi", "ar", "es"), n_sids=6)
        )
    )
    model = tiny_models("llama")
    for seed in (None, 3):  # the trained checkpoint, then its random-weights control
        extract(str(model), corpus, tmp_path / "run.zarr", random_init=seed, progress=False)
    settings = AnalysisSettings(top_percent=5, n_boot=0, null=4)
    alone = analyze_store(
        tmp_path / "run.zarr",
        settings=settings,
        out=tmp_path / "one",
        figures=False,
        progress=False,
    )
    with cluster(None, 2) as client:
        spread = analyze_on_cluster(
            client, tmp_path / "run.zarr", settings=settings, out=tmp_path / "two", figures=False
        )
    assert spread == alone
    trained = next(name for name in alone if "random-init" not in name)
    # found its control's analysis, finished first
    assert spread[trained].random_weights is not None
