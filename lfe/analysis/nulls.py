"""Chance levels: permutation nulls of LRDS and SADS. Takes and returns numpy arrays.

Permutations only relabel rows, so the similarity map is computed once and re-indexed:

- LRDS's null permutes the language labels within each sid (``shuffle_languages``): same-sid pairs
  and the sum over all pairs of different sids do not change, only how that sum splits into
  same-language and cross-language pairs;
- SADS's null permutes the sids within each language (``shuffle_sids``): the sum over all pairs of
  different languages does not change, only how it splits into same-sid and different-sid pairs.

So one permutation costs a gather of L·N² (LRDS) or L²·N (SADS) entries of the map, not N²·L².
The key regions' null (``RegionShuffles``) shuffles the language labels within each sid too.
"""

from __future__ import annotations

import numpy as np

from lfe.analysis.metrics import contribution_scores, zscores
from lfe.records import NullSummary, RegionNull

CHUNK = 16  # permutations gathered at once: [CHUNK, L, N, N] float32 stays near ten MB
LANGUAGES_SHUFFLED = "language labels permuted within each sid"
SIDS_SHUFFLED = "sids permuted within each language"


def shuffle_languages(grid: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """[n, L, N] grids whose language labels are permuted within each sid (column)."""
    order = rng.permuted(
        np.broadcast_to(np.arange(grid.shape[0])[None, :, None], (n, *grid.shape)), axis=1
    )
    return np.take_along_axis(np.broadcast_to(grid, (n, *grid.shape)), order, axis=1)


def shuffle_sids(grid: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """[n, L, N] grids whose sids are permuted within each language (row)."""
    order = rng.permuted(
        np.broadcast_to(np.arange(grid.shape[1])[None, None, :], (n, *grid.shape)), axis=2
    )
    return np.take_along_axis(np.broadcast_to(grid, (n, *grid.shape)), order, axis=2)


def language_indicator(grids: np.ndarray, n: int) -> np.ndarray:
    """[B*L, n] float32: row b*L + l is 1 on the rows that labelling b (of ``grids`` [B, L, sids])
    gives language l."""
    indicator = np.zeros((grids.shape[0] * grids.shape[1], n), dtype=np.float32)
    np.put_along_axis(indicator, grids.reshape(-1, grids.shape[2]), 1.0, axis=1)
    return indicator


def lrds_under(sim: np.ndarray, grid: np.ndarray, grids: np.ndarray) -> np.ndarray:
    """LRDS of ``sim`` under each of ``grids`` [B, L, N], ``grid`` [L, N] with languages permuted
    within sids: [B]."""
    n_langs, n_sids = grid.shape
    trace = float(np.trace(sim))
    same_sid_blocks = float(sum(sim[np.ix_(grid[:, a], grid[:, a])].sum() for a in range(n_sids)))
    different_sids = float(sim.sum()) - same_sid_blocks  # invariant under the permutation
    # the gathers are memory-bound: half the bytes; sums stay float64
    narrow = sim.astype(np.float32)
    same_lang = np.concatenate(
        [
            narrow[chunk[:, :, :, None], chunk[:, :, None, :]].sum(axis=(1, 2, 3), dtype=np.float64)
            - trace
            for chunk in np.array_split(grids, max(1, -(-len(grids) // CHUNK)))
        ]
    )
    pairs = n_sids * (n_sids - 1)
    return same_lang / (n_langs * pairs) - (different_sids - same_lang) / (
        n_langs * (n_langs - 1) * pairs
    )


def sads_under(sim: np.ndarray, grid: np.ndarray, grids: np.ndarray) -> np.ndarray:
    """SADS of ``sim`` under each of ``grids`` [B, L, N], ``grid`` [L, N] with sids permuted within
    languages: [B]."""
    n_langs, n_sids = grid.shape
    trace = float(np.trace(sim))
    same_lang_blocks = float(sum(sim[np.ix_(grid[l], grid[l])].sum() for l in range(n_langs)))
    different_langs = float(sim.sum()) - same_lang_blocks  # invariant under the permutation
    narrow = sim.astype(np.float32)
    same_sid = np.concatenate(
        [
            narrow[chunk[:, :, None, :], chunk[:, None, :, :]].sum(axis=(1, 2, 3), dtype=np.float64)
            - trace
            for chunk in np.array_split(grids, max(1, -(-len(grids) // CHUNK)))
        ]
    )
    pairs = n_langs * (n_langs - 1)
    return same_sid / (pairs * n_sids) - (different_langs - same_sid) / (
        pairs * n_sids * (n_sids - 1)
    )


def alignment_nulls(
    sim: np.ndarray, grid: np.ndarray, n: int, seed: int
) -> tuple[NullSummary, NullSummary]:
    """(LRDS's null, SADS's null) of ``sim`` from ``n`` seeded permutations each (the same for every
    map)."""
    lrds = lrds_under(
        sim,
        grid,
        np.concatenate([grid[None], shuffle_languages(grid, n, np.random.default_rng([seed, 1]))]),
    )
    sads = sads_under(
        sim,
        grid,
        np.concatenate([grid[None], shuffle_sids(grid, n, np.random.default_rng([seed, 2]))]),
    )
    return (
        summarize(float(lrds[0]), lrds[1:], LANGUAGES_SHUFFLED),
        summarize(float(sads[0]), sads[1:], SIDS_SHUFFLED),
    )


def summarize(observed: float, null: np.ndarray, shuffled: str) -> NullSummary:
    """Mean, 95th percentile and the one-sided permutation p-value (1 + #{null >= observed}) / (1 +
    B)."""
    return NullSummary(
        mean=float(null.mean()),
        p95=float(np.percentile(null, 95)),
        p_value=float((1 + np.count_nonzero(null >= observed)) / (1 + len(null))),
        permutations=len(null),
        shuffled=shuffled,
    )


class RegionShuffles:
    """The key regions' null, counted panel by panel in the analysis's own pass over the store.

    Each shuffle permutes the language labels within each sid; the contribution scores need only
    each language's Σa and Σa² per neuron, so all shuffles of a panel are two products of one
    stacked indicator [shuffles x languages, rows] with the panel's columns, and since a neuron's
    z-scores involve that neuron alone, only the count of key neurons per shuffle and language is
    kept. The count runs on a seeded sample of neurons: the share of key neurons under the null is
    estimated on it, at a cost independent of the model's width.
    """

    def __init__(
        self,
        grid: np.ndarray,
        n_layers: int,
        n_neurons: int,
        shuffles: int,
        sample: int,
        seed: int,
        threshold: float,
    ) -> None:
        rng = np.random.default_rng([seed, 3])
        self.columns = np.sort(
            rng.choice(n_layers * n_neurons, size=min(sample, n_layers * n_neurons), replace=False)
        )
        self.layers = self.columns // n_neurons  # the layer of each sampled neuron
        # [B, L, N]
        self.grids = shuffle_languages(grid, shuffles, np.random.default_rng([seed, 4]))
        self.shape = self.grids.shape[:2]  # (B, L)
        self.indicator = language_indicator(self.grids, grid.size)  # [B*L, n]
        self.threshold = threshold
        # [B, L, layers] key neurons among the sampled
        self.key = np.zeros((*self.shape, n_layers), dtype=np.int64)

    def add(self, block: np.ndarray, first: int, norms: np.ndarray) -> None:
        """Count the key neurons among the sampled columns of ``block`` [n, w] = store columns
        first..first+w."""
        low, high = np.searchsorted(self.columns, [first, first + block.shape[1]])
        if low == high:
            return
        # a = h / r in float32: a null's shares of key neurons need no more, and the products run
        # twice as fast
        values = (block[:, self.columns[low:high] - first] / np.asarray(norms)[:, None]).astype(
            np.float32
        )
        sums = (self.indicator @ values).astype(np.float64).reshape(*self.shape, -1)  # [B, L, m]
        squares = (self.indicator @ (values * values)).astype(np.float64).reshape(*self.shape, -1)
        layers = self.layers[low:high]
        for shuffle, (shuffled_sums, shuffled_squares) in enumerate(zip(sums, squares)):
            # [L, m]
            key = zscores(contribution_scores(shuffled_sums, shuffled_squares)) > self.threshold
            for layer in np.unique(layers):
                self.key[shuffle, :, layer] += key[:, layers == layer].sum(axis=1)

    def summary(self, regions: np.ndarray, langs: list[str]) -> RegionNull:
        """Each language's and all languages' share of key neurons under the null, against
        ``regions`` [L, K]."""
        shares = self.key.sum(axis=2) / len(self.columns)  # [B, L]
        observed = regions.mean(axis=1)  # [L]
        n_layers = self.key.shape[2]
        sampled = np.bincount(self.layers, minlength=n_layers)  # [layers]
        # [B, layers]: a layer's share of key neurons
        in_layer = self.key.sum(axis=1) / np.maximum(sampled, 1)
        # [layers]
        observed_layers = regions.reshape(len(langs), n_layers, -1).sum(axis=0).mean(axis=1)
        return RegionNull(
            sklr_percent=summarize(
                100 * float(observed.sum()), 100 * shares.sum(axis=1), LANGUAGES_SHUFFLED
            ),
            region_percent={
                lang: summarize(100 * float(observed[l]), 100 * shares[:, l], LANGUAGES_SHUFFLED)
                for l, lang in enumerate(langs)
            },
            neurons_sampled=len(self.columns),
            layer_percent=tuple(
                summarize(100 * float(observed_layers[m]), 100 * in_layer[:, m], LANGUAGES_SHUFFLED)
                for m in range(n_layers)
            ),
        )
