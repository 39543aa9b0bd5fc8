"""The peers' ways of finding a language's neurons, as plain functions on arrays (issue 17, first
part).

- LAPE (Tang et al. 2024, "Language-Specific Neurons"): from each neuron's activation probability
  per language (the share of the language's tokens where the activation function's output is > 0),
  the entropy of those probabilities normalised across languages; low entropy = language-specific.
- AP (Kojima et al. 2024, "Finding and Controlling Language-Specific Neurons"): the average
  precision of each neuron's pooled activation as a detector of one language against the rest; the
  top-k (and bottom-k) neurons per language.

Never imports torch, zarr or lfe.engine. Notation: L languages, K neurons, n rows.
"""

from __future__ import annotations

import numpy as np

from lfe.errors import AnalysisError


def activation_entropy(probabilities: np.ndarray) -> np.ndarray:
    """LAPE's entropy per neuron: H_k = -sum_l p'_lk log p'_lk with p'_lk = p_lk / sum_l p_lk ([L,
    K] -> [K]).

    A neuron that never fires (all p = 0) gets NaN normalised probabilities in LAPE's code, set to 0
    there, so its entropy is 0; its filter (``lape_regions``) then keeps it out.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    totals = probabilities.sum(axis=0, keepdims=True)
    normed = np.divide(probabilities, totals, out=np.zeros_like(probabilities), where=totals > 0)
    logs = np.log(normed, out=np.zeros_like(normed), where=normed > 0)
    return -(normed * logs).sum(axis=0)


def kth_smallest(values: np.ndarray, rate: float) -> float:
    """torch.kthvalue(round(len * rate)) of the flattened ``values``: the value LAPE's thresholds
    use."""
    flat = np.sort(np.asarray(values, dtype=np.float64).ravel())
    return float(flat[max(1, round(flat.size * rate)) - 1])


def lape_regions(
    probabilities: np.ndarray,
    *,
    top_rate: float = 0.01,
    filter_rate: float = 0.95,
    activation_bar_ratio: float = 0.95,
) -> np.ndarray:
    """LAPE's language-specific neurons [L, K] bool from activation probabilities [L, K].

    Neurons where no language's probability exceeds the ``filter_rate`` quantile of all
    probabilities are dismissed; of the rest, the ``top_rate`` share of all neurons with the lowest
    entropy is kept; each kept neuron belongs to every language whose probability exceeds the
    ``activation_bar_ratio`` quantile (LAPE's defaults: 1%, 0.95, 0.95).
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    for name, rate in (
        ("top_rate", top_rate),
        ("filter_rate", filter_rate),
        ("activation_bar_ratio", activation_bar_ratio),
    ):
        if not 0 < rate <= 1:
            raise AnalysisError(f"LAPE's {name} must be in (0, 1], got {rate}")
    entropy = activation_entropy(probabilities)
    entropy[(probabilities > kth_smallest(probabilities, filter_rate)).sum(axis=0) == 0] = np.inf
    chosen = np.argsort(entropy, kind="stable")[: round(entropy.size * top_rate)]
    chosen = chosen[np.isfinite(entropy[chosen])]
    regions = np.zeros(probabilities.shape, dtype=bool)
    regions[:, chosen] = probabilities[:, chosen] > kth_smallest(
        probabilities, activation_bar_ratio
    )
    return regions


def ranking(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column's rows from the highest score down [n, K], and where a run of tied scores ends
    [n, K] bool.

    Computed once per panel of scores: every labelling's average precision reuses it.
    """
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, axis=0, kind="stable")
    ranked = np.take_along_axis(scores, order, axis=0)
    last_of_tie = np.ones_like(ranked, dtype=bool)
    last_of_tie[:-1] = ranked[:-1] != ranked[1:]
    return order, last_of_tie


def ranked_average_precision(
    ranked: tuple[np.ndarray, np.ndarray], positive: np.ndarray
) -> np.ndarray:
    """``average_precision`` from a ``ranking`` of the scores: [K]."""
    order, last_of_tie = ranked
    positive = np.asarray(positive, dtype=bool)
    if not positive.any() or positive.all():
        raise AnalysisError(
            "average precision needs rows of the language and rows of other languages"
        )
    hits = np.cumsum(positive[order], axis=0, dtype=np.int32)
    seen = np.arange(1, order.shape[0] + 1, dtype=np.float64)[:, None]
    # only the last row of each run of tied scores is a threshold
    at_thresholds = np.where(last_of_tie, hits, 0)
    # hits at the previous threshold: the running maximum so far (hits only grow), one row down
    before = np.zeros_like(hits)
    np.maximum.accumulate(at_thresholds[:-1], axis=0, out=before[1:])
    gains = np.where(last_of_tie, hits - before, 0)
    return (gains * (hits / seen)).sum(axis=0) / positive.sum()


def average_precision(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """AP of each column of ``scores`` [n, K] as a detector of ``positive`` [n] bool: sum_t (R_t -
    R_{t-1}) P_t.

    Thresholds t run over the distinct scores, highest first (tied rows enter together), as
    scikit-learn's ``average_precision_score``.
    """
    return ranked_average_precision(ranking(scores), positive)


def ap_regions(ap: np.ndarray, *, top_k: int = 1000, bottom_k: int = 0) -> np.ndarray:
    """Kojima et al.'s neurons [L, K] bool: each language's ``top_k`` highest-AP neurons (and
    ``bottom_k`` lowest)."""
    ap = np.asarray(ap, dtype=np.float64)
    if top_k < 0 or bottom_k < 0 or top_k + bottom_k > ap.shape[1]:
        raise AnalysisError(
            f"top-k {top_k} and bottom-k {bottom_k} must be 0 or more and together at most the "
            f"{ap.shape[1]} neurons"
        )
    order = np.argsort(-ap, axis=1, kind="stable")
    regions = np.zeros(ap.shape, dtype=bool)
    rows = np.arange(ap.shape[0])[:, None]
    regions[rows, order[:, :top_k]] = True
    if bottom_k:
        regions[rows, order[:, ap.shape[1] - bottom_k :]] = True
    return regions


def jaccard(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """|A_l ∩ B_l| / |A_l ∪ B_l| per language of two [L, K] bool regions (NaN where both are
    empty)."""
    union = (first | second).sum(axis=1)
    both = (first & second).sum(axis=1)
    return np.divide(both, union, out=np.full(union.shape, np.nan), where=union > 0)


def chance_jaccard(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The Jaccard index of random regions of the same sizes a, b among K neurons: (ab/K) / (a + b -
    ab/K)."""
    a, b = first.sum(axis=1).astype(np.float64), second.sum(axis=1).astype(np.float64)
    both = a * b / first.shape[1]
    union = a + b - both
    return np.divide(both, union, out=np.full(union.shape, np.nan), where=union > 0)
