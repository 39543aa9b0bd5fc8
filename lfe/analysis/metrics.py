"""The paper's measures as plain functions: take and return numpy arrays.

Never imports torch, zarr or lfe.engine. Notation: n rows (samples), L languages, N sids, K neurons.
A ``grid`` [L, N] holds the row index of (language l, sid s): every pair is chosen through it, by
the labels, never by row position.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from lfe.corpus import row_label
from lfe.errors import AnalysisError, Problem, listing
from lfe.records import Alignment

if TYPE_CHECKING:
    from typing import Sequence


def label_grid(
    langs: Sequence[str] | np.ndarray, sids: Sequence[str] | np.ndarray
) -> tuple[list[str], list[str], np.ndarray]:
    """(languages, sids, grid [L, N]) from per-row labels; error unless every (lang, sid) is there
    once.

    Languages keep their order of first appearance (the figures show them so); sids are sorted.
    """
    langs, sids = [str(lang) for lang in langs], [str(sid) for sid in sids]
    lang_names = list(dict.fromkeys(langs))
    # sids in a canonical order (numeric where they are numbers), so that the seeded bootstrap draws
    # the same resamples however the rows are ordered
    sid_names = sorted(
        set(sids), key=lambda sid: (0, int(sid), "") if sid.isdigit() else (1, 0, sid)
    )
    lang_index = {name: i for i, name in enumerate(lang_names)}
    sid_index = {name: i for i, name in enumerate(sid_names)}
    grid = np.full((len(lang_names), len(sid_names)), -1, dtype=np.int64)
    for row, (lang, sid) in enumerate(zip(langs, sids)):
        cell = (lang_index[lang], sid_index[sid])
        if grid[cell] >= 0:
            raise AnalysisError(
                f"rows {grid[cell]} and {row} are both {row_label(lang, sid)}: each (lang, sid)"
                " must appear once"
            )
        grid[cell] = row
    missing = [row_label(lang_names[l], sid_names[s]) for l, s in zip(*np.nonzero(grid < 0))]
    if missing:
        raise AnalysisError(
            f"the rows are not a complete parallel corpus: missing {listing(missing)}"
        )
    return lang_names, sid_names, grid


def similarity(gram: np.ndarray) -> np.ndarray:
    """S = G / (r rᵀ) with r = sqrt(diag G): cosine similarity of the rows whose Gram is G."""
    norms = np.sqrt(np.clip(np.diag(gram), 0, None))
    outer = np.outer(norms, norms)
    return np.divide(gram, outer, out=np.zeros_like(gram, dtype=np.float64), where=outer > 0)


def bootstrap_weights(n_sids: int, n_boot: int, seed: int) -> np.ndarray:
    """[n_boot, N] counts of each sid in ``n_boot`` seeded resamples of the sids with
    replacement."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_sids, size=(n_boot, n_sids))
    return np.stack([np.bincount(row, minlength=n_sids) for row in draws]).astype(np.float64)


def pair_means(
    sim: np.ndarray, grid: np.ndarray, weights: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Weighted mean similarity of three kinds of pairs, chosen by the labels in ``grid``.

    - ``same_lang``: same language, different sid;
    - ``cross``: different language, different sid;
    - ``same_sid``: same sid, different language.

    ``weights`` [B, N] weighs sid a's rows by w_a (a pair of different sids by w_a w_c, a same-sid
    pair by w_a²); None is one set of unit weights. Returns arrays of shape [B].
    """
    n_langs, n_sids = grid.shape
    if n_langs < 2 or n_sids < 2:
        raise AnalysisError(
            f"pair metrics need at least 2 languages and 2 sids, got {n_langs} and {n_sids}"
        )
    weights = np.ones((1, n_sids)) if weights is None else np.asarray(weights, dtype=np.float64)
    # [L, N, L, N]
    ordered = sim[np.ix_(grid.ravel(), grid.ravel())].reshape(n_langs, n_sids, n_langs, n_sids)
    # block[b, l, m] = Σ_{a,c} w_a S[l a, m c] w_c over all sid pairs; same[b, l, m] = Σ_a w_a² S[l
    # a, m a]
    # [L, N, L, B]
    inner = (ordered.reshape(-1, n_sids) @ weights.T).reshape(n_langs, n_sids, n_langs, -1)
    block = np.einsum("ba,lamb->blm", weights, inner)  # [B, L, L]
    diagonal = np.einsum("lama->lma", ordered)  # [L, L, N]
    same = np.einsum("ba,lma->blm", weights**2, diagonal)  # [B, L, L]
    different = block - same  # pairs of different sids
    total, squares = weights.sum(axis=1), (weights**2).sum(axis=1)  # [B]
    pairs_different, off = total**2 - squares, ~np.eye(n_langs, dtype=bool)
    return {
        "same_lang": np.trace(different, axis1=1, axis2=2) / (n_langs * pairs_different),
        "cross": different[:, off].sum(axis=1) / (n_langs * (n_langs - 1) * pairs_different),
        "same_sid": same[:, off].sum(axis=1) / (n_langs * (n_langs - 1) * squares),
    }


def alignment_scores(
    sim: np.ndarray, grid: np.ndarray, *, n_boot: int = 0, seed: int = 0, level: float = 0.95
) -> Alignment:
    """LRDS = mean S(same lang, diff sid) − mean S(diff lang, diff sid); SADS = mean S(same sid,
    diff lang) − the same; with percentile intervals from ``n_boot`` seeded bootstrap resamples over
    sids."""

    def scores(means: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return means["same_lang"] - means["cross"], means["same_sid"] - means["cross"]

    lrds, sads = scores(pair_means(sim, grid))
    if not n_boot:
        return Alignment(float(lrds[0]), float(sads[0]))
    tail = (1 - level) / 2 * 100
    boot_lrds, boot_sads = scores(
        pair_means(sim, grid, bootstrap_weights(grid.shape[1], n_boot, seed))
    )
    lrds_low, lrds_high = np.percentile(boot_lrds, [tail, 100 - tail])
    sads_low, sads_high = np.percentile(boot_sads, [tail, 100 - tail])
    return Alignment(
        float(lrds[0]),
        float(sads[0]),
        float(lrds_low),
        float(lrds_high),
        float(sads_low),
        float(sads_high),
    )


def language_sums(
    h: np.ndarray, grid: np.ndarray, norms: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(Σ_i a_ik, Σ_i a_ik²) over each language's rows, a = h / norms: [L, K] each, as float64.

    Mergeable by addition over row blocks. Two matrix products with the 1/norm scaling folded into
    the language indicator, so no normalised copy of ``h`` is made; they run in ``h``'s precision
    (at least float32: each sum has at most N terms), float64 input staying float64.
    """
    dtype = np.result_type(np.asarray(h).dtype, np.float32)
    h = np.asarray(h, dtype=dtype)
    scale = np.ones(h.shape[0]) if norms is None else 1.0 / np.asarray(norms, dtype=np.float64)
    indicator = np.zeros((grid.shape[0], h.shape[0]))  # [L, n]
    np.put_along_axis(indicator, grid, 1.0, axis=1)
    sums = (indicator * scale).astype(dtype) @ h
    squares = (indicator * scale**2).astype(dtype) @ (h * h)
    return sums.astype(np.float64), squares.astype(np.float64)


def contribution_scores(sums: np.ndarray, squares: np.ndarray) -> np.ndarray:
    """S_l(k) = Σ_{i<j ∈ l} a_ik a_jk = ((Σ_i a_ik)² − Σ_i a_ik²) / 2, from ``language_sums``."""
    return (sums**2 - squares) / 2


def zscores(scores: np.ndarray) -> np.ndarray:
    """z_l(k) = (S_l(k) − μ_k) / σ_k across languages, population σ; 0 where σ_k = 0."""
    if scores.shape[0] < 2:
        raise AnalysisError("z-scores across languages need at least 2 languages; this store has 1")
    mean = scores.mean(axis=0, keepdims=True)
    std = scores.std(axis=0, keepdims=True)  # population std (ddof=0), as the paper's eq. 14
    return np.divide(scores - mean, std, out=np.zeros_like(scores, dtype=np.float64), where=std > 0)


def max_zscore(n_langs: int) -> float:
    """The largest z any neuron can reach with ``n_langs`` languages and the population std:
    √(L−1)."""
    return math.sqrt(n_langs - 1)


def key_regions(
    z: np.ndarray, threshold: float | None = 2.0, top_percent: float | None = None
) -> np.ndarray:
    """Boolean [L, K]: neuron k is key for l when z_l(k) > threshold, or among l's top P% (with z >
    0)."""
    n_langs, n_neurons = z.shape
    if top_percent is not None:
        if not 0 < top_percent <= 100:
            problem = Problem("top_percent", f"must be in (0, 100], got {top_percent}")
            raise AnalysisError.of(problem)
        count = max(1, int(round(n_neurons * top_percent / 100)))
        order = np.argsort(-z, axis=1, kind="stable")[:, :count]
        regions = np.zeros_like(z, dtype=bool)
        np.put_along_axis(regions, order, True, axis=1)
        return regions & (z > 0)
    limit = max_zscore(n_langs)
    if threshold is None:
        raise AnalysisError("pass a threshold or a top percent")
    if threshold >= limit:
        raise AnalysisError.naming(
            f"`threshold` {threshold} cannot be exceeded: with {n_langs} languages and the"
            f" population std the largest possible z is sqrt({n_langs}-1) = {limit:.3f}; lower the"
            " threshold, add languages (threshold 2 needs at least 6), or use `top_percent`"
        )
    return z > threshold


def region_overlap(regions: np.ndarray) -> np.ndarray:
    """[L, L] counts of neurons key for both l and m (the diagonal is each region's size)."""
    as_int = regions.astype(np.int64)
    return as_int @ as_int.T


def layer_counts(regions: np.ndarray, n_layers: int) -> np.ndarray:
    """[L, layers] key neurons of each language in each layer (neurons are layer-major)."""
    return regions.reshape(regions.shape[0], n_layers, -1).sum(axis=2)
