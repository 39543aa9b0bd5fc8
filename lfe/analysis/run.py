"""One checkpoint's analysis in two streaming passes over full-height panels of the neuron axis.

Takes a numpy or dask array [n, layers x neurons] and per-row labels; never imports torch, zarr or
lfe.engine. Memory stays near two n x n maps plus one panel (one layer's [n, neurons] columns),
whatever the neuron count:

1. for each layer m: G_m = P_m P_mᵀ; the layer's own similarity map gives its LRDS and SADS; the
   whole-model Gram is G = Σ_m G_m, so the whole map needs no second pass;
2. for each layer m: a = P_m / r with r the whole-row norms (√diag G, eq. 6), then each language's
   Σa and Σa² per neuron, from which the contribution scores follow in closed form.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lfe.analysis.metrics import (
    AnalysisError, contribution_scores, key_regions, label_grid, language_sums, layer_counts,
    lrds_sads_with_intervals, region_overlap, similarity, zscores,
)


SUB_PANEL = 4096  # columns of a panel converted to float32 at once


@dataclass
class AnalysisResult:
    """Everything one checkpoint's analysis computes; arrays are numpy, rows in the input's order."""

    langs: list[str]
    sids: list[str]
    grid: np.ndarray  # [L, N] row of (language, sid)
    n_layers: int
    n_neurons: int
    params: dict
    similarity: np.ndarray  # [n, n] whole-model cosine similarity
    whole: dict  # lrds, sads and their intervals
    layers: list[dict]  # the same for each layer's own map
    zscores: np.ndarray  # [L, layers x neurons]
    regions: np.ndarray  # [L, layers x neurons] bool
    overlap: np.ndarray = field(init=False)  # [L, L]
    counts: np.ndarray = field(init=False)  # [L, layers]

    def __post_init__(self):
        self.overlap = region_overlap(self.regions)
        self.counts = layer_counts(self.regions, self.n_layers)

    @property
    def region_sizes(self) -> dict[str, int]:
        return {lang: int(size) for lang, size in zip(self.langs, self.regions.sum(axis=1))}

    @property
    def sklr(self) -> int:
        """SKLR: the sizes of all languages' key regions, summed."""
        return int(self.regions.sum())

    def metrics(self) -> dict:
        """JSON-ready numbers with the parameters that produced them."""
        total = self.n_layers * self.n_neurons
        return {
            "params": self.params,
            "languages": self.langs,
            "n_sids": len(self.sids),
            "whole": self.whole,
            "layers": self.layers,
            "sklr": self.sklr,
            "sklr_percent": 100 * self.sklr / total,
            "region_sizes": self.region_sizes,
            "region_percent": {lang: 100 * size / total for lang, size in self.region_sizes.items()},
            "key_neurons_per_layer": {lang: self.counts[i].tolist() for i, lang in enumerate(self.langs)},
            "overlap": self.overlap.tolist(),
        }


def panel(pooled, layer: int, width: int) -> np.ndarray:
    """Layer ``layer``'s full-height columns as numpy; dask arrays are computed here and only here."""
    part = pooled[:, layer * width:(layer + 1) * width]
    return np.asarray(part.compute() if hasattr(part, "compute") else part)


def panels(pooled, n_layers: int, width: int):
    """Yield each layer's panel, reading the next one in a thread while the caller computes."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lfe-panel") as pool:
        upcoming = pool.submit(panel, pooled, 0, width)
        for layer in range(n_layers):
            values = upcoming.result()
            if layer + 1 < n_layers:
                upcoming = pool.submit(panel, pooled, layer + 1, width)
            yield values


class NumpyPanels:
    """The arithmetic on each panel block, in numpy on the CPU: its Gram and its language sums.

    Another implementation with the same two methods (``lfe.kernels.TorchPanels``: a GPU, with the
    grouped column statistics kernel) can be passed to ``analyze``; this module never imports it.
    """

    name = "numpy"

    def gram(self, block: np.ndarray) -> np.ndarray:
        """block · blockᵀ [n, n] (float32 BLAS for float32 blocks)."""
        return block @ block.T

    def language_sums(self, block: np.ndarray, grid: np.ndarray, norms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return language_sums(block, grid, norms)


def analyze(
    pooled, langs, sids, n_layers: int, n_neurons: int, threshold: float | None = 2.0,
    top_percent: float | None = None, n_boot: int = 200, seed: int = 0, progress: bool = False,
    norms: np.ndarray | None = None, panels_math=None,
) -> AnalysisResult:
    """Similarity maps, LRDS and SADS (whole and per layer), z-scores and key regions of ``pooled``.

    Parameters
    ----------
    pooled : numpy or dask array [n, n_layers * n_neurons]
        Mean-pooled activations, layer-major columns, any float dtype (computed in float32/float64).
    langs, sids : sequences of n labels
        Pairs are chosen by these, so the row order does not matter.
    threshold, top_percent : key neurons have z > threshold, or are each language's top percent.
    n_boot, seed : bootstrap resamples over sids for the intervals (0: none), and their seed.
    norms : optional [n] L2 norms of the rows over all layers; with them, one pass instead of two.
    panels_math : the Gram and language sums of each block (default ``NumpyPanels``).
    """
    from tqdm import tqdm

    lang_names, sid_names, grid = label_grid(langs, sids)
    if len(lang_names) < 2:
        raise AnalysisError("this store has one language: LRDS, SADS and z-scores need at least 2")
    if pooled.shape != (grid.size, n_layers * n_neurons):
        raise AnalysisError(f"pooled has shape {pooled.shape}, expected {(grid.size, n_layers * n_neurons)}")
    if top_percent is None:
        key_regions(np.zeros((len(lang_names), 1)), threshold)  # an unreachable threshold fails before any work
    arithmetic = panels_math or NumpyPanels()
    labels = [f"{lang}/{sid}" for lang, sid in zip(langs, sids)]
    bar = tqdm(total=n_layers * (1 if norms is not None else 2), unit="panel", desc="analyze", disable=not progress)

    gram = np.zeros((grid.size, grid.size))
    scores = np.empty((len(lang_names), n_layers * n_neurons))
    layers = []
    for layer, values in enumerate(panels(pooled, n_layers, n_neurons)):
        layer_gram = np.zeros_like(gram)
        for start in range(0, n_neurons, SUB_PANEL):  # float32 copies of a few columns at a time
            block = values[:, start:start + SUB_PANEL].astype(np.float32, copy=False)
            layer_gram += arithmetic.gram(block)  # float32 products, float64 across blocks and layers
            if norms is not None:  # known norms: contributions in the same pass
                _block_scores(arithmetic, block, grid, norms, scores, layer * n_neurons + start)
        _check_finite(np.diag(layer_gram), labels, layer)  # a NaN or inf anywhere in a row shows here
        gram += layer_gram
        layers.append({"layer": layer, **lrds_sads_with_intervals(similarity(layer_gram), grid, n_boot, seed)})
        bar.update()
    sim = similarity(gram)
    whole = lrds_sads_with_intervals(sim, grid, n_boot, seed)

    from_gram = np.sqrt(np.diag(gram))
    if not (from_gram > 0).all():
        raise AnalysisError(f"rows with all activations zero: {', '.join(np.asarray(labels)[from_gram == 0][:10])}; "
                            "they have no direction to compare")
    if norms is None:
        norms = from_gram
        for layer, values in enumerate(panels(pooled, n_layers, n_neurons)):
            for start in range(0, n_neurons, SUB_PANEL):
                _block_scores(arithmetic, values[:, start:start + SUB_PANEL], grid, norms, scores, layer * n_neurons + start)
            bar.update()
    elif not np.allclose(norms, from_gram, rtol=1e-3):
        worst = np.asarray(labels)[np.argmax(np.abs(norms / from_gram - 1))]
        raise AnalysisError(f"the stored row norms do not match the rows (worst: {worst}); the store is damaged")
    bar.close()
    z = zscores(scores)
    params = {"threshold": None if top_percent is not None else threshold, "top_percent": top_percent,
              "n_boot": n_boot, "seed": seed, "interval": 0.95, "zscore_std": "population",
              "normalisation": "L2 over all layers (paper eq. 6)", "arithmetic": arithmetic.name}
    return AnalysisResult(lang_names, sid_names, grid, n_layers, n_neurons, params, sim.astype(np.float32), whole,
                          layers, z.astype(np.float32), key_regions(z, threshold, top_percent))


def _block_scores(arithmetic, block: np.ndarray, grid: np.ndarray, norms: np.ndarray, scores: np.ndarray, first: int) -> None:
    """Fill the columns ``first:first + width`` of ``scores`` [L, layers x neurons] from one block."""
    scores[:, first:first + block.shape[1]] = contribution_scores(*arithmetic.language_sums(block, grid, norms))


def _check_finite(squared_norms: np.ndarray, labels: list[str], layer: int) -> None:
    bad = ~np.isfinite(squared_norms)
    if bad.any():
        names = [labels[i] for i in np.flatnonzero(bad)[:10]]
        raise AnalysisError(f"NaN, inf or overflowing activations in layer {layer} for {', '.join(names)}"
                            f"{' ...' if bad.sum() > 10 else ''}; re-extract these rows (lfe extract --overwrite)")
