"""The peers' methods (LAPE, average precision) against plain references written from their
definitions."""

import math

import numpy as np
import pytest

from lfe.analysis.methods import (
    activation_entropy,
    ap_regions,
    average_precision,
    kth_smallest,
    lape_regions,
)
from lfe.errors import AnalysisError


def _ap_reference(scores, positive):
    """AP from its definition: for each distinct score t, highest first, (R_t - R_prev) * P_t."""
    total, previous_recall = 0.0, 0.0
    for threshold in sorted(set(scores), reverse=True):
        chosen = [p for s, p in zip(scores, positive) if s >= threshold]
        recall = sum(chosen) / sum(positive)
        total += (recall - previous_recall) * (sum(chosen) / len(chosen))
        previous_recall = recall
    return total


def test_average_precision_equals_its_definition_with_ties() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 6, size=(40, 7)).astype(float)  # many ties
    scores[:, 0] = np.arange(40)  # a perfect detector of the top rows
    positive = np.zeros(40, bool)
    positive[30:] = True
    rng.shuffle(positive[:30])
    ap = average_precision(scores, positive)
    for column in range(7):
        assert ap[column] == pytest.approx(
            _ap_reference(scores[:, column].tolist(), positive.tolist()), abs=1e-12
        )
    assert ap[0] == pytest.approx(1.0)
    # row order does not change it
    order = rng.permutation(40)
    np.testing.assert_allclose(average_precision(scores[order], positive[order]), ap, atol=1e-12)
    with pytest.raises(AnalysisError, match="rows of the language and rows of other"):
        average_precision(scores, np.ones(40, bool))


def test_ap_regions_take_each_languages_top_and_bottom_neurons() -> None:
    ap = np.array([[0.9, 0.1, 0.5, 0.3], [0.2, 0.8, 0.4, 0.6]])
    np.testing.assert_array_equal(ap_regions(ap, top_k=1), [[1, 0, 0, 0], [0, 1, 0, 0]])
    np.testing.assert_array_equal(ap_regions(ap, top_k=1, bottom_k=1), [[1, 1, 0, 0], [1, 1, 0, 0]])
    with pytest.raises(AnalysisError, match="at most the 4 neurons"):
        ap_regions(ap, top_k=3, bottom_k=2)


def _lape_reference(p, top_rate, filter_rate, bar_ratio):
    """LAPE's selection written out neuron by neuron from Tang et al.'s definition (and their code's
    quantiles)."""
    flat = sorted(p.ravel())
    filter_value = flat[round(len(flat) * filter_rate) - 1]
    bar = flat[round(len(flat) * bar_ratio) - 1]
    entropies = []
    for k in range(p.shape[1]):
        column = p[:, k]
        if not any(value > filter_value for value in column):
            entropies.append(math.inf)
            continue
        total = column.sum()
        entropies.append(-sum((v / total) * math.log(v / total) for v in column if v > 0))
    keep = sorted(range(p.shape[1]), key=lambda k: entropies[k])[: round(p.shape[1] * top_rate)]
    regions = np.zeros(p.shape, bool)
    for k in keep:
        if math.isfinite(entropies[k]):
            regions[:, k] = p[:, k] > bar
    return regions


def test_lape_finds_planted_language_neurons_as_its_definition_does() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0.2, 0.4, size=(5, 400))  # every neuron fires about as often in every language
    for lang in range(5):
        p[lang, lang * 4 : (lang + 1) * 4] = 0.95  # four neurons fire almost only for one language
        p[np.arange(5) != lang, lang * 4 : (lang + 1) * 4] = 0.01
    p[:, 399] = 0  # never fires
    regions = lape_regions(p, top_rate=0.05)
    np.testing.assert_array_equal(regions, _lape_reference(p, 0.05, 0.95, 0.95))
    for lang in range(5):
        assert regions[lang, lang * 4 : (lang + 1) * 4].all()
        assert regions[lang].sum() == 4
    assert activation_entropy(p)[399] == 0
    assert not regions[:, 399].any()
    assert activation_entropy(np.full((4, 1), 0.3))[0] == pytest.approx(math.log(4))
    assert kth_smallest(np.arange(1, 101), 0.95) == 95  # torch.kthvalue(95): the 95th smallest
    with pytest.raises(AnalysisError, match="top_rate must be in"):
        lape_regions(p, top_rate=0)
