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

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Iterator, Protocol

import numpy as np

from lfe.analysis.metrics import (
    alignment_scores,
    contribution_scores,
    key_regions,
    label_grid,
    language_sums,
    similarity,
    zscores,
)
from lfe.analysis.nulls import RegionShuffles, alignment_nulls
from lfe.corpus import row_label
from lfe.errors import AnalysisError, PanelReadError
from lfe.records import Alignment, AnalysisSettings, RegionNull

if TYPE_CHECKING:
    from typing import Sequence

    import dask.array as da
    from tqdm import tqdm

SUB_PANEL = 4096  # columns of a panel converted to float32 at once

REPAIR = "run `lfe check --repair` on the store, then the same `lfe extract`"


@dataclass(frozen=True)
class PaperMeasures:
    """The paper's measures of one checkpoint's rows (numpy, rows in the input's order)."""

    langs: list[str]
    sids: list[str]
    grid: np.ndarray  # [L, N] row of (language, sid)
    params: AnalysisSettings  # as used (with what computed the panels)
    similarity: np.ndarray  # [n, n] float32 whole-model cosine similarity
    whole: Alignment  # lrds, sads and their intervals
    layers: list[Alignment]  # the same for each layer's own map
    zscores: np.ndarray  # [L, layers x neurons] float32
    regions: np.ndarray  # [L, layers x neurons] bool
    region_null: RegionNull | None  # the regions' chance level (None without a null)


def panel(pooled: da.Array, layer: int, width: int) -> np.ndarray:
    """Layer ``layer``'s full-height columns as numpy; dask arrays are computed here and only
    here."""
    part = pooled[:, layer * width : (layer + 1) * width]
    if not hasattr(part, "compute"):
        return np.asarray(part)
    try:
        return np.asarray(part.compute())
    except MemoryError:
        raise
    except Exception as error:  # each codec raises its own type for a damaged chunk
        raise PanelReadError(
            f"cannot read layer {layer}'s activations ({type(error).__name__}: {error})"
        ) from error


def panels(pooled: da.Array, n_layers: int, width: int) -> Iterator[np.ndarray]:
    """Yield each layer's panel, reading the next one in a thread while the caller computes."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lfe-panel") as pool:
        upcoming = pool.submit(panel, pooled, 0, width)
        for layer in range(n_layers):
            values = upcoming.result()
            if layer + 1 < n_layers:
                upcoming = pool.submit(panel, pooled, layer + 1, width)
            yield values


def language_means(pooled: da.Array, grid: np.ndarray, n_layers: int, n_neurons: int) -> np.ndarray:
    """Each language's mean pooled activation per neuron [L, layers x neurons]: Σ_{i ∈ l} h_ik / N,
    panel by panel."""
    means = np.empty((grid.shape[0], n_layers * n_neurons))
    for layer, values in enumerate(panels(pooled, n_layers, n_neurons)):
        means[:, layer * n_neurons : (layer + 1) * n_neurons] = (
            language_sums(values, grid)[0] / grid.shape[1]
        )
    return means


class PanelMath(Protocol):
    """The arithmetic on each panel block: its Gram and its language sums (``NumpyPanels``, or
    ``lfe.kernels.TorchPanels`` on a GPU)."""

    name: str

    def float32(self, block: np.ndarray) -> np.ndarray: ...

    def gram(self, block: np.ndarray) -> np.ndarray: ...

    def language_sums(
        self, block: np.ndarray, grid: np.ndarray, norms: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]: ...


class NumpyPanels:
    """The arithmetic on each panel block, in numpy on the CPU: its Gram and its language sums.

    Another implementation with the same two methods (``lfe.kernels.TorchPanels``: a GPU, with the
    grouped column statistics kernel) can be passed to ``analyze``; this module never imports it.
    """

    name = "numpy"

    def float32(self, block: np.ndarray) -> np.ndarray:
        """The block as float32 (stored float16 rows are widened exactly)."""
        return block.astype(np.float32, copy=False)

    def gram(self, block: np.ndarray) -> np.ndarray:
        """block · blockᵀ [n, n] (float32 BLAS for float32 blocks)."""
        return block @ block.T

    def language_sums(
        self, block: np.ndarray, grid: np.ndarray, norms: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        return language_sums(block, grid, norms)


def paper_measures(
    pooled: da.Array,
    langs: Sequence[str],
    sids: Sequence[str],
    n_layers: int,
    n_neurons: int,
    *,
    settings: AnalysisSettings = AnalysisSettings(),
    progress: bool = False,
    norms: np.ndarray | None = None,
    panels_math: PanelMath | None = None,
) -> PaperMeasures:
    """Similarity maps, LRDS and SADS (whole and per layer), z-scores and key regions of ``pooled``.

    Parameters
    ----------
    pooled : numpy or dask array [n, n_layers * n_neurons]
        Mean-pooled activations, layer-major columns, any float dtype (computed in float32/float64).
        langs, sids : sequences of n labels Pairs are chosen by these, so the row order does not
        matter.
    settings : the key-region rule (threshold or top percent), bootstrap resamples over sids (0:
        none) and their seed.
    norms : optional [n] L2 norms of the rows over all layers; with them, one pass instead of two.
    panels_math : the Gram and language sums of each block (default ``NumpyPanels``).
    """
    from tqdm import tqdm

    lang_names, sid_names, grid = label_grid(langs, sids)
    if len(lang_names) < 2:
        raise AnalysisError("this store has one language: LRDS, SADS and z-scores need at least 2")
    if pooled.shape != (grid.size, n_layers * n_neurons):
        raise AnalysisError(
            f"pooled has shape {pooled.shape}, expected {(grid.size, n_layers * n_neurons)}"
        )
    if settings.threshold is not None:
        # an unreachable threshold fails before any work
        key_regions(np.zeros((len(lang_names), 1)), settings.threshold)
    arithmetic = panels_math or NumpyPanels()
    # a top-percent rule fixes each region's size, so only a threshold's regions have a chance level
    # to report
    shuffles = (
        RegionShuffles(
            grid,
            n_layers,
            n_neurons,
            settings.null,
            settings.null_neurons,
            settings.seed,
            settings.threshold,
        )
        if settings.null and settings.threshold is not None
        else None
    )
    pass_ = _Pass(
        pooled,
        grid,
        n_layers,
        n_neurons,
        arithmetic,
        [row_label(lang, sid) for lang, sid in zip(langs, sids)],
        shuffles,
    )
    with tqdm(
        total=n_layers * (1 if norms is not None else 2),
        unit="panel",
        desc="analyze",
        disable=not progress,
    ) as bar:
        gram, layers = pass_.grams(norms, settings, bar)
        sim = similarity(gram)
        whole = alignment_with_nulls(sim, grid, settings, settings.whole_null)
        pass_.scores_from(gram, norms, bar)
    z = zscores(pass_.scores)
    regions = key_regions(z, settings.threshold, settings.top_percent)
    region_null = None if shuffles is None else shuffles.summary(regions, lang_names)
    return PaperMeasures(
        lang_names,
        sid_names,
        grid,
        replace(settings, arithmetic=arithmetic.name),
        sim.astype(np.float32),
        whole,
        layers,
        z.astype(np.float32),
        regions,
        region_null,
    )


class _Pass:
    """The streaming passes over one checkpoint's panels, and the contribution scores they fill."""

    def __init__(
        self,
        pooled: da.Array,
        grid: np.ndarray,
        n_layers: int,
        n_neurons: int,
        arithmetic: PanelMath,
        labels: list[str],
        shuffles: RegionShuffles | None,
    ) -> None:
        self.pooled, self.grid, self.n_layers, self.n_neurons = pooled, grid, n_layers, n_neurons
        self.arithmetic, self.labels, self.shuffles = arithmetic, labels, shuffles
        self.scores = np.empty((grid.shape[0], n_layers * n_neurons))

    def grams(
        self, norms: np.ndarray | None, settings: AnalysisSettings, bar: tqdm
    ) -> tuple[np.ndarray, list[Alignment]]:
        """Pass 1: every layer's Gram (its own LRDS/SADS) summed into the whole model's; with known
        ``norms``, the contribution scores in the same pass."""
        # zero or NaN: lost or damaged
        if norms is not None and not (np.isfinite(norms) & (norms > 0)).all():
            bad = np.asarray(self.labels)[~(np.isfinite(norms) & (norms > 0))]
            raise AnalysisError(
                f"the stored row norms of {', '.join(bad[:5])} are zero or not finite; the store is"
                f" damaged: {REPAIR}"
            )
        gram = np.zeros((self.grid.size, self.grid.size))
        layer_gram = np.empty_like(gram)  # one buffer: a fresh one per layer costs its page faults
        layers = []
        for layer, values in enumerate(panels(self.pooled, self.n_layers, self.n_neurons)):
            layer_gram.fill(0)
            # float32 copies of a few columns at a time
            for start in range(0, self.n_neurons, SUB_PANEL):
                block = self.arithmetic.float32(values[:, start : start + SUB_PANEL])
                # float32 products, float64 across blocks and layers
                layer_gram += self.arithmetic.gram(block)
                if norms is not None:  # known norms: contributions in the same pass
                    self._block_scores(block, norms, layer * self.n_neurons + start)
            # a NaN or inf anywhere in a row shows here
            _check_finite(np.diag(layer_gram), self.labels, layer)
            gram += layer_gram
            layers.append(
                alignment_with_nulls(similarity(layer_gram), self.grid, settings, settings.null)
            )
            bar.update()
        return gram, layers

    def scores_from(self, gram: np.ndarray, norms: np.ndarray | None, bar: tqdm) -> None:
        """Check the row norms against the Gram; without stored norms, pass 2 for the contribution
        scores."""
        from_gram = np.sqrt(np.diag(gram))
        labels = np.asarray(self.labels)
        if not (from_gram > 0).all():
            raise AnalysisError(
                f"rows with all activations zero: {', '.join(labels[from_gram == 0][:10])}; "
                "they have no direction to compare"
            )
        if norms is not None:
            if not np.allclose(norms, from_gram, rtol=1e-3):
                worst = labels[np.argmax(np.abs(norms / from_gram - 1))]
                raise AnalysisError(
                    f"the stored row norms do not match the rows (worst: {worst}); the store is"
                    " damaged: " + REPAIR
                )
            return
        for layer, values in enumerate(panels(self.pooled, self.n_layers, self.n_neurons)):
            for start in range(0, self.n_neurons, SUB_PANEL):
                self._block_scores(
                    values[:, start : start + SUB_PANEL], from_gram, layer * self.n_neurons + start
                )
            bar.update()

    def _block_scores(self, block: np.ndarray, norms: np.ndarray, first: int) -> None:
        """Fill the columns ``first:first + width`` of the scores [L, layers x neurons] from one
        block."""
        self.scores[:, first : first + block.shape[1]] = contribution_scores(
            *self.arithmetic.language_sums(block, self.grid, norms)
        )
        # the regions' null, from the same panel while it is in memory
        if self.shuffles is not None:
            self.shuffles.add(block, first, norms)


def alignment_with_nulls(
    sim: np.ndarray, grid: np.ndarray, settings: AnalysisSettings, permutations: int
) -> Alignment:
    """LRDS and SADS of ``sim`` with their bootstrap intervals and, with ``permutations``, their
    nulls."""
    found = alignment_scores(sim, grid, n_boot=settings.n_boot, seed=settings.seed)
    if not permutations:
        return found
    lrds_null, sads_null = alignment_nulls(sim, grid, permutations, settings.seed)
    return replace(found, lrds_null=lrds_null, sads_null=sads_null)


def _check_finite(squared_norms: np.ndarray, labels: list[str], layer: int) -> None:
    bad = ~np.isfinite(squared_norms)
    if bad.any():
        names = [labels[i] for i in np.flatnonzero(bad)[:10]]
        raise AnalysisError(
            f"NaN, inf or overflowing activations in layer {layer} for {', '.join(names)}"
            f"{' ...' if bad.sum() > 10 else ''}; re-extract these rows (lfe extract --overwrite)"
        )
