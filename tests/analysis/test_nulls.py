"""Permutation nulls of LRDS and SADS: the fast re-indexing equals recomputing on relabelled rows,
a planted effect is far above its null, and noise is not."""

import numpy as np
import pytest

from lfe.analysis import analyze
from lfe.analysis.metrics import (
    alignment_scores,
    contribution_scores,
    label_grid,
    language_sums,
    pair_means,
    similarity,
    zscores,
)
from lfe.analysis.nulls import (
    RegionShuffles,
    alignment_nulls,
    lrds_under,
    sads_under,
    shuffle_languages,
    shuffle_sids,
)
from lfe.records import AnalysisSettings
from tests.helpers import planted


def _map(seed=0, scale=0.3, layers=((1.0, 1.0),)):
    pooled, langs, sids = planted(n_langs=4, n_sids=7, layers=layers)
    pooled = pooled + np.random.default_rng(seed).normal(scale=scale, size=pooled.shape)
    _, _, grid = label_grid(langs, sids)
    return similarity(pooled @ pooled.T), grid


def test_permutations_relabel_within_the_right_groups() -> None:
    _, grid = _map()
    languages = shuffle_languages(grid, 20, np.random.default_rng(0))
    sids = shuffle_sids(grid, 20, np.random.default_rng(0))
    for permuted in languages:  # each sid keeps its rows, languages move
        assert all(sorted(permuted[:, a]) == sorted(grid[:, a]) for a in range(grid.shape[1]))
    for permuted in sids:  # each language keeps its rows, sids move
        assert all(sorted(permuted[l]) == sorted(grid[l]) for l in range(grid.shape[0]))
    assert not all(np.array_equal(p, grid) for p in languages)
    assert not all(np.array_equal(p, grid) for p in sids)


def test_the_fast_nulls_equal_pair_means_on_each_relabelled_grid() -> None:
    sim, grid = _map()
    observed = alignment_scores(sim, grid)
    # the gathers read the map in float32: agreement to 1e-6, where a wrong formula is off by 1e-2
    assert lrds_under(sim, grid, grid[None])[0] == pytest.approx(observed.lrds, abs=1e-6)
    assert sads_under(sim, grid, grid[None])[0] == pytest.approx(observed.sads, abs=1e-6)
    draws = shuffle_languages(grid, 5, np.random.default_rng(4))
    for permuted, fast in zip(draws, lrds_under(sim, grid, draws)):
        means = pair_means(sim, permuted)
        assert fast == pytest.approx(means["same_lang"][0] - means["cross"][0], abs=1e-6)
    draws = shuffle_sids(grid, 5, np.random.default_rng(9))
    for permuted, fast in zip(draws, sads_under(sim, grid, draws)):
        means = pair_means(sim, permuted)
        assert fast == pytest.approx(means["same_sid"][0] - means["cross"][0], abs=1e-6)


def test_a_planted_effect_is_above_chance_and_noise_is_not() -> None:
    sim, grid = _map(layers=((1.0, 1.0),), scale=0.2)
    lrds_null, sads_null = alignment_nulls(sim, grid, 200, seed=0)
    observed = alignment_scores(sim, grid)
    assert observed.lrds > lrds_null.p95
    assert lrds_null.p_value == pytest.approx(1 / 201)
    assert observed.sads > sads_null.p95
    assert sads_null.p_value == pytest.approx(1 / 201)
    rng = np.random.default_rng(1)
    noise = rng.normal(size=(28, 30))
    _, _, grid = label_grid(
        [f"l{l}" for l in range(4) for _ in range(7)], [str(s) for _ in range(4) for s in range(7)]
    )
    noise_sim = similarity(noise @ noise.T)
    lrds_null, sads_null = alignment_nulls(noise_sim, grid, 200, seed=0)
    assert lrds_null.p_value > 0.05
    assert sads_null.p_value > 0.05
    assert abs(lrds_null.mean) < 0.02
    assert abs(sads_null.mean) < 0.02


def test_analyze_records_the_nulls_of_the_whole_model_and_every_layer_seeded() -> None:
    pooled, langs, sids = planted(n_langs=4, n_sids=6)
    settings = AnalysisSettings(threshold=1.5, n_boot=0, null=10, seed=3)
    a = analyze(pooled, langs, sids, 2, 40, settings=settings)
    b = analyze(pooled, langs, sids, 2, 40, settings=settings)
    assert a.whole.lrds_null is not None
    assert a.whole.lrds_null.permutations == 100
    assert all(
        layer.sads_null is not None and layer.sads_null.permutations == 10 for layer in a.layers
    )
    assert a.whole == b.whole
    assert a.layers == b.layers
    none = analyze(
        pooled, langs, sids, 2, 40, settings=AnalysisSettings(threshold=1.5, n_boot=0, null=0)
    )
    assert none.whole.lrds_null is None
    assert none.whole.lrds == a.whole.lrds


def test_region_shuffles_count_the_key_neurons_of_each_relabelled_grid() -> None:
    pooled, langs, sids = planted(n_langs=6, n_sids=6, width=20)
    pooled = pooled + np.random.default_rng(2).normal(scale=0.3, size=pooled.shape)
    _, _, grid = label_grid(langs, sids)
    norms = np.linalg.norm(pooled, axis=1)
    shuffles = RegionShuffles(grid, 2, pooled.shape[1] // 2, 5, sample=25, seed=0, threshold=1.5)
    shuffles.add(pooled[:, :30], 0, norms)  # two panels, as the analysis hands them over
    shuffles.add(pooled[:, 30:], 30, norms)
    # brute force: the whole analysis's rule on the relabelled rows
    for b, permuted in enumerate(shuffles.grids):
        z = zscores(
            contribution_scores(*language_sums(pooled[:, shuffles.columns], permuted, norms))
        )
        assert shuffles.key[b].sum(axis=1).tolist() == (z > 1.5).sum(axis=1).tolist()
        second_layer = shuffles.columns >= pooled.shape[1] // 2
        assert shuffles.key[b, :, 1].tolist() == (z[:, second_layer] > 1.5).sum(axis=1).tolist()
    assert shuffles.key.sum() > 0


def test_planted_language_neurons_are_far_above_the_regions_chance_and_noise_is_not() -> None:
    rng = np.random.default_rng(7)
    n_langs, n_sids, width = 9, 12, 60
    langs = [f"l{l}" for l in range(n_langs) for _ in range(n_sids)]
    sids = [str(s) for _ in range(n_langs) for s in range(n_sids)]
    noise = rng.normal(size=(n_langs * n_sids, 2 * width)) * 0.1 + 1.0
    # every neuron leans to some languages
    per_language = rng.normal(size=(n_langs, 2 * width)) * 0.3
    planted_rows = noise + np.repeat(per_language, n_sids, axis=0)
    settings = AnalysisSettings(n_boot=0, null=40, null_neurons=10**6)
    found = analyze(planted_rows, langs, sids, 2, width, settings=settings).region_null
    assert found is not None
    assert found.neurons_sampled == 2 * width
    assert found.sklr_percent.p_value == pytest.approx(1 / 41)
    # SKLR is the sum of the region sizes, shuffle by shuffle
    assert sum(null.mean for null in found.region_percent.values()) == pytest.approx(
        found.sklr_percent.mean
    )
    # and per layer: the layers' shares average to SKLR's (the same number of neurons in each)
    assert len(found.layer_percent) == 2
    assert np.mean([null.mean for null in found.layer_percent]) == pytest.approx(
        found.sklr_percent.mean
    )
    chance = analyze(noise, langs, sids, 2, width, settings=settings).region_null
    assert chance is not None
    assert chance.sklr_percent.p_value > 0.05
    # z > 2 over nine languages passes many neurons by chance alone
    assert chance.sklr_percent.mean > 5
