"""The peers' methods on a checkpoint (``lfe analyze --method``): planted neurons found, each number
equal to a plain reference from its paper's definition, row order irrelevant, chance levels
honest."""

import dask.array as da
import numpy as np
import pytest

from lfe.analysis.methods import activation_entropy, average_precision, lape_regions
from lfe.analysis.metrics import label_grid
from lfe.analysis.peers import peer_methods
from lfe.records import PeerSettings

N_LAYERS, WIDTH, N_LANGS, N_SIDS = 3, 64, 4, 30
PLANTED = {0: [3, 70], 1: [10, 140], 2: [100, 180], 3: [33, 150]}  # language -> its neurons


def _planted_store(seed=0):
    """Pooled means and positive counts where each language's planted neurons are strong and fire on
    its rows only."""
    rng = np.random.default_rng(seed)
    langs = [f"l{lang}" for lang in range(N_LANGS) for _ in range(N_SIDS)]
    sids = [str(sid) for _ in range(N_LANGS) for sid in range(N_SIDS)]
    n, k = len(langs), N_LAYERS * WIDTH
    tokens = rng.integers(5, 40, size=n)
    firing = rng.uniform(0.05, 0.5, size=k)  # each neuron's base rate of firing
    pooled = rng.normal(size=(n, k))
    for lang, neurons in PLANTED.items():
        rows = np.arange(n)[lang * N_SIDS : (lang + 1) * N_SIDS]
        pooled[np.ix_(rows, neurons)] += 3.0
    rate = np.tile(firing, (n, 1))
    for lang, neurons in PLANTED.items():
        rate[:, neurons] = 0.0
        rate[lang * N_SIDS : (lang + 1) * N_SIDS, neurons] = 0.95
    positive = rng.binomial(tokens[:, None], rate).astype(np.uint32)
    return pooled, positive, tokens, langs, sids


def _run(pooled, positive, tokens, langs, sids, **settings):
    lang_names, _, grid = label_grid(langs, sids)
    zscore = np.zeros((N_LANGS, N_LAYERS * WIDTH), bool)
    zscore[:, :5] = True
    peers = PeerSettings(
        **{"methods": ("lape", "ap"), "ap_top_k": 2, "lape_top_rate": 8 / 192, **settings}
    )
    return peer_methods(
        da.from_array(pooled, chunks=(50, WIDTH)),
        da.from_array(positive, chunks=(50, WIDTH)),
        tokens,
        grid,
        lang_names,
        N_LAYERS,
        WIDTH,
        zscore,
        peers=peers,
        seed=0,
        null_neurons=96,
    )


def test_planted_neurons_are_found_by_both_methods_above_their_chance_level() -> None:
    result = _run(*_planted_store())
    for method in ("lape", "ap"):
        found = result.regions[method]
        for lang, neurons in PLANTED.items():
            assert set(np.flatnonzero(found[lang])) == set(neurons), method
        record = result.records[method]
        for lang in record.selectivity:
            assert record.selectivity[lang] > record.selectivity_null[lang].p95
            assert record.selectivity_null[lang].p_value < 0.1
    assert result.records["ap"].selectivity["l0"] > 0.95
    assert result.records["ap"].selectivity_null["l0"].mean < 0.8
    np.testing.assert_array_equal(result.records["lape"].key_neurons_per_layer["l1"], [1, 0, 1])


def test_each_number_equals_a_plain_reference_and_row_order_does_not_matter() -> None:
    pooled, positive, tokens, langs, sids = _planted_store(seed=1)
    result = _run(pooled, positive, tokens, langs, sids, shuffles=3)
    rows = {
        lang: [i for i, row_lang in enumerate(langs) if row_lang == lang]
        for lang in sorted(set(langs))
    }
    probability = np.array(
        [
            [
                positive[rows[lang], k].sum() / tokens[rows[lang]].sum()
                for k in range(positive.shape[1])
            ]
            for lang in rows
        ]
    )
    np.testing.assert_allclose(result.scores["lape"], probability, rtol=1e-6)
    np.testing.assert_array_equal(
        result.regions["lape"], lape_regions(probability, top_rate=8 / 192)
    )
    specificity = 1 - activation_entropy(probability) / np.log(N_LANGS)
    assert result.records["lape"].selectivity["l2"] == pytest.approx(
        specificity[result.regions["lape"][2]].mean()
    )
    for index, lang in enumerate(rows):
        is_lang = np.array([row_lang == lang for row_lang in langs])
        np.testing.assert_allclose(
            result.scores["ap"][index], average_precision(pooled, is_lang), atol=1e-12
        )
    jaccard = result.agreement.jaccard["lape-ap"]["l0"]
    lape, ap = (
        set(np.flatnonzero(result.regions["lape"][0])),
        set(np.flatnonzero(result.regions["ap"][0])),
    )
    assert jaccard == pytest.approx(len(lape & ap) / len(lape | ap))
    assert set(result.agreement.jaccard) == {"zscore-lape", "zscore-ap", "lape-ap"}
    order = np.random.default_rng(2).permutation(len(langs))
    shuffled = _run(
        pooled[order],
        positive[order],
        tokens[order],
        [langs[i] for i in order],
        [sids[i] for i in order],
        shuffles=3,
    )
    back = [
        sorted(set(langs)).index(lang)
        for lang in label_grid([langs[i] for i in order], [sids[i] for i in order])[0]
    ]
    for method in ("lape", "ap"):
        np.testing.assert_array_equal(shuffled.regions[method], result.regions[method][back])
        np.testing.assert_allclose(shuffled.scores[method], result.scores[method][back], rtol=1e-6)


def test_no_shuffles_means_no_chance_level_and_a_store_without_counts_can_still_run_ap() -> None:
    pooled, positive, tokens, langs, sids = _planted_store()
    result = _run(pooled, positive, tokens, langs, sids, shuffles=0)
    assert result.records["ap"].selectivity_null == {}
    assert result.records["lape"].selectivity_null == {}
    _, _, grid = label_grid(langs, sids)
    only_ap = peer_methods(
        pooled,
        None,
        None,
        grid,
        sorted(set(langs)),
        N_LAYERS,
        WIDTH,
        np.zeros((4, 192), bool),
        peers=PeerSettings(methods=("ap",), ap_top_k=2, shuffles=0),
        seed=0,
        null_neurons=10,
    )
    assert set(only_ap.regions) == {"ap"}


def test_analyze_method_all_through_the_cli_stores_every_methods_regions_and_reports_them(
    tiny_models, tmp_path
) -> None:
    from click.testing import CliRunner

    from lfe.cli import main
    from lfe.store import ActivationStore
    from tests.helpers import parallel_rows, write_tsv

    corpus = write_tsv(tmp_path / "c.tsv", parallel_rows(langs=("en", "fr", "zh"), n_sids=8))
    base = [
        "extract",
        str(tiny_models("llama")),
        "--corpus",
        str(corpus),
        "--name",
        "ckpt",
        "--quiet",
    ]
    assert (
        CliRunner()
        .invoke(main, base + ["--stats", "mean,positive", "--out", str(tmp_path / "run.zarr")])
        .exit_code
        == 0
    )
    analyze = [
        "analyze",
        "--threshold",
        "1",
        "--bootstrap",
        "0",
        "--null",
        "10",
        "--quiet",
        "--ap-top-k",
        "20",
    ]
    done = CliRunner().invoke(
        main,
        analyze + [str(tmp_path / "run.zarr"), "--method", "all", "--out", str(tmp_path / "a")],
    )
    assert done.exit_code == 0, done.output
    assert "lape" in done.output
    assert "ap 60 neurons" in done.output
    store = ActivationStore.open(tmp_path / "run.zarr")
    record, arrays = store.analysis("ckpt"), store.analysis_arrays("ckpt")
    assert set(record.methods) == {"lape", "ap"}
    assert record.params.peers.ap_top_k == 20
    assert arrays.regions_of("ap").sum(axis=1).tolist() == [20, 20, 20]
    assert arrays.regions_of("lape").shape == arrays.regions.shape == arrays.lape_probability.shape
    report = (tmp_path / "a" / "ckpt" / "report.md").read_text()
    assert "## Methods compared" in report
    assert "zscore vs lape" in report
    for name in ("methods.png", "methods.csv", "agreement.csv"):
        assert (tmp_path / "a" / "ckpt" / name).stat().st_size > 0
    # a store without the positive counts: AP runs, LAPE is refused in one line naming the fix
    assert CliRunner().invoke(main, base + ["--out", str(tmp_path / "mean.zarr")]).exit_code == 0
    refused = CliRunner().invoke(
        main, analyze + [str(tmp_path / "mean.zarr"), "--method", "zscore,lape"]
    )
    assert refused.exit_code == 2
    assert "--stats mean,positive" in refused.output
    assert "Traceback" not in refused.output
    assert (
        CliRunner()
        .invoke(main, analyze + [str(tmp_path / "mean.zarr"), "--method", "ap"])
        .exit_code
        == 0
    )
    for bad in (
        ["--method", "lapе"],
        ["--method", ","],
        ["--lape-top-rate", "0"],
        ["--ap-top-k", "0"],
    ):
        result = CliRunner().invoke(main, analyze + [str(tmp_path / "mean.zarr"), *bad])
        assert result.exit_code == 2, (bad, result.output)
        assert len(result.output.strip().splitlines()) == 1, (bad, result.output)
    with pytest.raises(Exception, match="no lape regions"):
        ActivationStore.open(tmp_path / "mean.zarr").analysis_arrays("ckpt").regions_of("lape")
