"""The plain functions behind `lfe evolve`: steps from names, duplicates, depth of key neurons, rank
trends."""

import numpy as np
import pytest

from lfe.analysis.evolution import duplicates, layer_center, spearman, step_from_name


@pytest.mark.parametrize(
    "name, step",
    [
        ("global_step1000", 1000),
        ("checkpoint-250", 250),
        ("step_40", 40),
        ("ckpt12", 12),
        ("iter-7", 7),
        ("bloom-560m-global_step600", 600),
        ("run3-final-500", 500),
        ("main", None),
        ("final", None),
    ],
)
def test_step_from_name(name, step) -> None:
    assert step_from_name(name) == step


def test_duplicates_point_to_the_first_equal_hash() -> None:
    assert duplicates(["a", "b", "a", None, "b", "a", None]) == [None, None, 0, None, 1, 0, None]


def test_layer_center_is_zero_at_the_first_layer_and_one_at_the_last() -> None:
    assert layer_center([[5, 0, 0, 0]]) == 0.0
    assert layer_center([[0, 0, 0, 2], [0, 0, 0, 1]]) == 1.0
    assert layer_center([[1, 0, 0, 1]]) == pytest.approx(0.5)
    # brute force: the mean depth of every key neuron, each counted once
    counts = np.random.default_rng(0).integers(0, 9, size=(3, 7))
    depths = [m / 6 for lang in counts for m, c in enumerate(lang) for _ in range(c)]
    assert layer_center(counts) == pytest.approx(np.mean(depths))
    assert np.isnan(layer_center([[0, 0, 0]]))


def test_spearman_signs_and_ties() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4], [1, 1, 2, 2]) == pytest.approx(
        np.corrcoef([1, 2, 3, 4], [1.5, 1.5, 3.5, 3.5])[0, 1]
    )
    assert np.isnan(spearman([1, 2, 3], [5, 5, 5]))


def _brute_spearman(x, y):
    """Rank correlation written out: average ranks by counting, then Pearson's formula, NaN pairs
    dropped."""
    pairs = [(a, b) for a, b in zip(x, y) if not (np.isnan(a) or np.isnan(b))]

    def rank(values):
        return [
            sum(w < v for w in values) + (sum(w == v for w in values) - 1) / 2 + 1 for v in values
        ]

    ra, rb = rank([a for a, _ in pairs]), rank([b for _, b in pairs])
    mean_a, mean_b = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((p - mean_a) * (q - mean_b) for p, q in zip(ra, rb))
    return cov / (sum((p - mean_a) ** 2 for p in ra) * sum((q - mean_b) ** 2 for q in rb)) ** 0.5


def test_spearman_equals_a_brute_force_rank_correlation_with_ties_and_nan() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        x = rng.integers(0, 5, size=9).astype(float)  # many ties
        y = rng.integers(0, 4, size=9).astype(float)
        x[rng.integers(0, 9)] = np.nan
        if np.nanstd(x) and np.nanstd(y):
            assert spearman(x, y) == pytest.approx(_brute_spearman(x, y))
    # the NaN pair dropped, not ranked last
    assert spearman([1, 2, 3, 4], [np.nan, 1, 2, 3]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4, 5], [1, 2, None, 4, 5]) == pytest.approx(1.0)
    assert np.isnan(spearman([1, 2, 3], [np.nan, np.nan, 1.0]))
