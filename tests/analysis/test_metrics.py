"""The paper's measures on synthetic activations with planted structure, where the answers are
known."""

import itertools
import math

import numpy as np
import pytest

from lfe.analysis import AnalysisError, analyze
from lfe.analysis.metrics import (
    alignment_scores,
    bootstrap_weights,
    contribution_scores,
    key_regions,
    label_grid,
    language_sums,
    max_zscore,
    pair_means,
    similarity,
    zscores,
)
from lfe.records import Alignment, AnalysisSettings
from tests.helpers import planted


def run(pooled, langs, sids, n_layers, n_neurons, **settings):
    """``analyze`` with the settings given as keywords."""
    return analyze(pooled, langs, sids, n_layers, n_neurons, settings=AnalysisSettings(**settings))


def test_planted_lrds_and_sads_match_the_closed_form() -> None:
    layers = ((1.0, 2.0), (3.0, 0.5))
    pooled, langs, sids = planted(layers=layers)
    result = run(pooled, langs, sids, n_layers=2, n_neurons=40, n_boot=0, threshold=1.5)
    total = sum(a * a + b * b for a, b in layers)
    assert result.whole.lrds == pytest.approx(sum(a * a for a, _ in layers) / total, abs=1e-6)
    assert result.whole.sads == pytest.approx(sum(b * b for _, b in layers) / total, abs=1e-6)
    for (alpha, beta), layer in zip(layers, result.layers):
        assert layer.lrds == pytest.approx(alpha**2 / (alpha**2 + beta**2), abs=1e-6)
        assert layer.sads == pytest.approx(beta**2 / (alpha**2 + beta**2), abs=1e-6)


def test_bootstrap_intervals_are_seeded_and_bracket_the_estimate() -> None:
    pooled, langs, sids = planted(n_sids=12)
    pooled = pooled + np.random.default_rng(1).normal(scale=0.3, size=pooled.shape)
    a = run(pooled, langs, sids, 2, 40, n_boot=300, seed=5, threshold=1.5).whole
    b = run(pooled, langs, sids, 2, 40, n_boot=300, seed=5, threshold=1.5).whole
    c = run(pooled, langs, sids, 2, 40, n_boot=300, seed=6, threshold=1.5).whole
    assert a == b
    assert a != c
    for name in ("lrds", "sads"):
        assert getattr(a, f"{name}_low") < getattr(a, name) < getattr(a, f"{name}_high")


def test_unit_bootstrap_weights_give_the_plain_means() -> None:
    pooled, langs, sids = planted()
    pooled = pooled + np.random.default_rng(0).normal(scale=0.3, size=pooled.shape)
    _, _, grid = label_grid(langs, sids)
    sim = similarity(pooled @ pooled.T)
    plain = pair_means(sim, grid)
    weighted = pair_means(sim, grid, np.ones((3, grid.shape[1])))
    for key in plain:
        np.testing.assert_allclose(weighted[key], plain[key][0], rtol=1e-12)
    # a brute-force loop over all pairs agrees
    same_lang, cross, same_sid = [], [], []
    for i, j in itertools.permutations(range(len(langs)), 2):
        if langs[i] == langs[j] and sids[i] != sids[j]:
            same_lang.append(sim[i, j])
        elif langs[i] != langs[j] and sids[i] != sids[j]:
            cross.append(sim[i, j])
        elif langs[i] != langs[j]:
            same_sid.append(sim[i, j])
    assert plain["same_lang"][0] == pytest.approx(np.mean(same_lang))
    assert plain["cross"][0] == pytest.approx(np.mean(cross))
    assert plain["same_sid"][0] == pytest.approx(np.mean(same_sid))


def test_shuffling_rows_changes_no_metric() -> None:
    pooled, langs, sids = planted()
    pooled = pooled + np.random.default_rng(2).normal(scale=0.2, size=pooled.shape)
    order = np.random.default_rng(3).permutation(len(langs))
    a = run(pooled, langs, sids, 2, 40, n_boot=50, seed=0, threshold=1.0)
    b = run(
        pooled[order],
        np.asarray(langs)[order],
        np.asarray(sids)[order],
        2,
        40,
        n_boot=50,
        seed=0,
        threshold=1.0,
    )
    for key in Alignment.COLUMNS:
        assert getattr(a.whole, key) == pytest.approx(getattr(b.whole, key), abs=1e-12)
    # languages are listed by first appearance
    same_order = [b.langs.index(lang) for lang in a.langs]
    np.testing.assert_allclose(a.zscores, b.zscores[same_order], atol=1e-5)
    np.testing.assert_array_equal(a.regions, b.regions[same_order])
    assert a.regions.any()


def test_pairing_by_position_with_an_off_by_one_stride_is_not_what_lfe_does() -> None:
    """The released code paired row i with row i + N + 1 as 'same meaning': mostly neighbouring
    sids."""
    pooled, langs, sids = planted(n_langs=3, n_sids=8, layers=((1.0, 2.0),))
    sim = similarity(pooled @ pooled.T)
    _, _, grid = label_grid(langs, sids)
    n_sids = 8
    buggy_same = [sim[i, i + n_sids + 1] for i in range(len(langs) - n_sids - 1)]
    buggy = np.mean(buggy_same) - pair_means(sim, grid)["cross"][0]
    assert alignment_scores(sim, grid).sads == pytest.approx(4 / 5)  # β² / (α² + β²)
    assert abs(buggy - alignment_scores(sim, grid).sads) > 0.3


def test_closed_form_contribution_equals_the_double_loop() -> None:
    rng = np.random.default_rng(4)
    a = rng.normal(size=(3 * 5, 7))
    langs = [l for l in "abc" for _ in range(5)]
    sids = [str(s) for _ in "abc" for s in range(5)]
    _, _, grid = label_grid(langs, sids)
    closed = contribution_scores(*language_sums(a, grid))
    for l in range(3):
        rows = grid[l]
        for k in range(7):
            loop = sum(a[rows[i], k] * a[rows[j], k] for i in range(5) for j in range(i + 1, 5))
            assert closed[l, k] == pytest.approx(loop, rel=1e-12, abs=1e-12)
    # mergeable over row blocks: S(A ∪ B) = S(A) + S(B) + Σ_A Σ_B
    half = grid[:, :2], grid[:, 2:]
    sum_a, sq_a = language_sums(a, half[0])
    sum_b, sq_b = language_sums(a, half[1])
    merged = contribution_scores(sum_a, sq_a) + contribution_scores(sum_b, sq_b) + sum_a * sum_b
    np.testing.assert_allclose(merged, closed)


@pytest.mark.parametrize("n_langs", [2, 3, 5, 9])
def test_z_never_exceeds_sqrt_l_minus_1_and_regions_are_disjoint_at_2_with_9(n_langs) -> None:
    scores = np.random.default_rng(n_langs).standard_cauchy(size=(n_langs, 5000))
    scores[:, 0] = 0  # a neuron with zero std is key for no language
    z = zscores(scores)
    assert z.max() <= max_zscore(n_langs) + 1e-9
    assert np.allclose((z[:, 1:] ** 2).sum(axis=0), n_langs)
    assert (z[:, 0] == 0).all()
    if n_langs == 9:
        regions = key_regions(z, 2.0)
        assert regions.sum() > 0
        assert regions.sum(axis=0).max() == 1
        assert not regions[:, 0].any()


def test_unreachable_threshold_and_one_language_are_errors() -> None:
    z = zscores(np.random.default_rng(0).standard_cauchy(size=(5, 1000)))
    with pytest.raises(
        AnalysisError, match=r"largest possible z is sqrt\(5-1\) = 2.000.*needs at least 6"
    ):
        key_regions(z, 2.0)
    assert key_regions(z, 1.9).any()
    pooled, langs, sids = planted(n_langs=1)
    with pytest.raises(AnalysisError, match="one language"):
        run(pooled, langs, sids, 2, 40)
    with pytest.raises(AnalysisError, match="at least 2 languages"):
        zscores(np.ones((1, 4)))


def test_top_percent_takes_each_languages_best_neurons() -> None:
    z = zscores(np.random.default_rng(0).normal(size=(4, 1000)))
    regions = key_regions(z, top_percent=5)
    assert (regions.sum(axis=1) <= 50).all()
    assert (regions.sum(axis=1) >= 40).all()
    for l in range(4):
        assert z[l, regions[l]].min() >= z[l, ~regions[l]].max() or (z[l, ~regions[l]] <= 0).all()
    with pytest.raises(AnalysisError, match="top_percent must be in"):
        key_regions(z, top_percent=0)


def test_incomplete_labels_nan_rows_and_zero_rows_are_errors() -> None:
    pooled, langs, sids = planted()
    with pytest.raises(AnalysisError, match="missing l3/5"):
        run(pooled[:-1], langs[:-1], sids[:-1], 2, 40)
    broken = pooled.copy()
    broken[3, 50] = np.nan
    with pytest.raises(
        AnalysisError, match=r"NaN, inf or overflowing activations in layer 1 for l0/3"
    ):
        run(broken, langs, sids, 2, 40, threshold=1.5)


def test_per_layer_grams_sum_to_the_whole_and_planted_language_neurons_are_found() -> None:
    rng = np.random.default_rng(7)
    n_langs, n_sids, width = 9, 20, 30
    pooled = rng.normal(size=(n_langs * n_sids, 2 * width)) * 0.1 + 1.0
    langs = [f"l{l}" for l in range(n_langs) for _ in range(n_sids)]
    sids = [str(s) for _ in range(n_langs) for s in range(n_sids)]
    for l in range(n_langs):  # neuron 3 * l of layer 1 fires for language l only
        pooled[l * n_sids : (l + 1) * n_sids, width + 3 * l] += 5.0
    layer_grams = [
        pooled[:, m * width : (m + 1) * width] @ pooled[:, m * width : (m + 1) * width].T
        for m in range(2)
    ]
    np.testing.assert_allclose(sum(layer_grams), pooled @ pooled.T)
    result = run(pooled, langs, sids, 2, width, n_boot=0)
    for l in range(n_langs):
        assert result.regions[l, width + 3 * l]
    assert result.counts[:, 1].min() >= 1
    assert result.sklr == result.regions.sum()
    assert (np.diag(result.overlap) == result.regions.sum(axis=1)).all()
    assert alignment_scores(
        result.similarity.astype(np.float64), result.grid
    ).lrds == pytest.approx(result.whole.lrds, abs=1e-6)
    assert math.isfinite(result.whole.sads)


def _reference_zscores(pooled: np.ndarray, langs: list[str]) -> np.ndarray:
    """Eq. 6 then eq. 10-14 written out with loops in float64: a_i = h_i / ||h_i|| over all layers,
    S_l(k) = sum over pairs i < j of language l of a_ik a_jk, z across languages with the population
    std."""
    rows = [[float(v) for v in row] for row in pooled]
    normalised = [[v / math.sqrt(sum(w * w for w in row)) for v in row] for row in rows]
    names = list(dict.fromkeys(langs))
    scores = np.zeros((len(names), pooled.shape[1]))
    for l, name in enumerate(names):
        members = [i for i, lang in enumerate(langs) if lang == name]
        for k in range(pooled.shape[1]):
            scores[l, k] = sum(
                normalised[members[i]][k] * normalised[members[j]][k]
                for i in range(len(members))
                for j in range(i + 1, len(members))
            )
    z = np.zeros_like(scores)
    for k in range(scores.shape[1]):
        mean = sum(scores[:, k]) / len(names)
        std = math.sqrt(sum((s - mean) ** 2 for s in scores[:, k]) / len(names))
        z[:, k] = [(s - mean) / std if std > 0 else 0.0 for s in scores[:, k]]
    return z


@pytest.mark.parametrize("stored_norms", [False, True])
def test_key_neuron_scoring_equals_an_independent_reference_where_normalising_matters(
    stored_norms,
) -> None:
    rng = np.random.default_rng(11)
    pooled, langs, sids = planted(n_langs=5, n_sids=6, width=12)
    pooled = pooled + rng.normal(scale=0.5, size=pooled.shape)
    # row norms that differ by 400x: eq. 6 decides the z
    pooled *= rng.uniform(0.05, 20.0, size=(len(langs), 1))
    norms = np.linalg.norm(pooled, axis=1) if stored_norms else None
    result = analyze(
        pooled, langs, sids, 2, 12, settings=AnalysisSettings(threshold=1.0, n_boot=0), norms=norms
    )
    reference = _reference_zscores(pooled, langs)
    np.testing.assert_allclose(result.zscores, reference, atol=2e-5)
    np.testing.assert_array_equal(result.regions, reference > 1.0)


def test_bootstrap_weights_equal_explicit_resamples_of_the_sids() -> None:
    pooled, langs, sids = planted(n_langs=3, n_sids=5, layers=((1.0, 1.0),))
    pooled = pooled + np.random.default_rng(0).normal(scale=0.4, size=pooled.shape)
    _, sid_names, grid = label_grid(langs, sids)
    sim = similarity(pooled @ pooled.T)
    rng = np.random.default_rng(5)
    draws = [rng.integers(0, len(sid_names), size=len(sid_names)) for _ in range(4)]
    weighted = pair_means(
        sim, grid, np.stack([np.bincount(d, minlength=len(sid_names)) for d in draws])
    )
    for b, draw in enumerate(draws):
        # the resampled data set: every language's rows of the drawn sids, duplicates included
        rows = [(l, s, grid[l, s]) for l in range(grid.shape[0]) for s in draw]
        kinds: dict[str, list[float]] = {"same_lang": [], "cross": [], "same_sid": []}
        for (l1, s1, i), (l2, s2, j) in itertools.product(rows, rows):
            if l1 == l2 and s1 != s2:
                kinds["same_lang"].append(sim[i, j])
            elif l1 != l2 and s1 != s2:
                kinds["cross"].append(sim[i, j])
            elif l1 != l2:
                kinds["same_sid"].append(sim[i, j])
        for kind, values in kinds.items():
            assert weighted[kind][b] == pytest.approx(np.mean(values), rel=1e-12)
    counts = bootstrap_weights(len(sid_names), 50, seed=1)
    assert counts.shape == (50, 5)
    assert (counts.sum(axis=1) == 5).all()
    assert np.array_equal(counts, bootstrap_weights(5, 50, seed=1))
    assert not np.array_equal(counts, bootstrap_weights(5, 50, 2))
