"""The peers' key neurons of one checkpoint, streamed over layer panels as the main analysis is.

- LAPE (Tang et al.) from the positive counts: p_lk = Σ positive tokens / Σ tokens over l's rows;
- AP (Kojima et al.) from the pooled means: each neuron's average precision as a detector of l.

Each method's chance level shuffles the language labels within each sid, as the key regions' null
does: LAPE's on every neuron (all shuffles of a panel are one product), AP's on a seeded sample of
neurons (each labelling needs its own cumulative sums). Never imports torch, zarr or lfe.engine.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from lfe.analysis.methods import (
    activation_entropy,
    ap_regions,
    chance_jaccard,
    jaccard,
    lape_regions,
    ranked_average_precision,
    ranking,
)
from lfe.analysis.metrics import layer_counts
from lfe.analysis.nulls import LANGUAGES_SHUFFLED, language_indicator, shuffle_languages, summarize
from lfe.analysis.streaming import SUB_PANEL, panels
from lfe.errors import AnalysisError
from lfe.records import AP, LAPE, ZSCORE, Agreement, AnalysisArrays, MethodRegions, PeerSettings

if TYPE_CHECKING:
    import dask.array as da
    from tqdm import tqdm

MEASURES = {
    LAPE: (
        "mean specificity 1 - H/ln L of the language's neurons (H: entropy of the normalised"
        " activation probabilities)"
    ),
    AP: "mean average precision of the language's top-k neurons as detectors of it (1: perfect)",
}


@dataclass
class PeerResult:
    """The peer methods' regions [L, N] bool, their scores [L, N] and their records, with the
    agreement."""

    regions: dict[str, np.ndarray]
    scores: dict[str, np.ndarray]
    records: dict[str, MethodRegions]
    agreement: Agreement

    def arrays(self) -> dict[str, np.ndarray]:
        """``AnalysisArrays``' fields of these methods."""
        fields = AnalysisArrays.METHOD_FIELDS
        return {
            **{
                fields[method][0]: scores.astype(np.float32)
                for method, scores in self.scores.items()
            },
            **{fields[method][1]: regions for method, regions in self.regions.items()},
        }


def peer_methods(
    pooled: da.Array,
    positive: da.Array,
    n_tokens: np.ndarray | None,
    grid: np.ndarray,
    langs: list[str],
    n_layers: int,
    n_neurons: int,
    zscore_regions: np.ndarray,
    *,
    peers: PeerSettings,
    seed: int,
    null_neurons: int,
    progress: bool = False,
) -> PeerResult:
    """The regions of each of ``peers.methods`` and their agreement with each other and the z-score
    regions.

    ``positive`` [n, N] and ``n_tokens`` [n] are the stored counts (``lfe extract --stats
    positive``), needed by LAPE only; ``pooled`` [n, N] the means, needed by AP only.
    """
    from tqdm import tqdm

    regions, scores, records = {}, {}, {}
    grids = np.concatenate(
        [grid[None], shuffle_languages(grid, peers.shuffles, np.random.default_rng([seed, 5]))]
    )
    with tqdm(
        total=n_layers * len(peers.methods), unit="panel", desc="methods", disable=not progress
    ) as bar:
        if LAPE in peers.methods:
            if positive is None or n_tokens is None:
                raise AnalysisError(
                    "LAPE needs each row's positive counts and token count (lfe extract --stats"
                    " mean,positive)"
                )
            probability = lape_probabilities(positive, n_tokens, grids, n_layers, n_neurons, bar)
            regions[LAPE], scores[LAPE] = _lape(probability[0], peers), probability[0]
            selectivity = [_lape_selectivity(p, _lape(p, peers)) for p in probability]
            records[LAPE] = _record(
                LAPE, regions[LAPE], langs, n_layers, selectivity[0], np.array(selectivity[1:])
            )
        if AP in peers.methods:
            columns = np.sort(
                np.random.default_rng([seed, 6]).choice(
                    n_layers * n_neurons,
                    size=min(null_neurons, n_layers * n_neurons),
                    replace=False,
                )
            )
            ap, null_ap = language_average_precision(
                pooled, grids, n_layers, n_neurons, columns, bar
            )
            regions[AP], scores[AP] = ap_regions(ap, top_k=min(peers.ap_top_k, ap.shape[1])), ap
            sampled_k = max(1, round(peers.ap_top_k * len(columns) / ap.shape[1]))
            records[AP] = _record(
                AP,
                regions[AP],
                langs,
                n_layers,
                _top_mean(ap, peers.ap_top_k),
                np.array([_top_mean(shuffled, sampled_k) for shuffled in null_ap]),
                len(columns),
            )
    return PeerResult(
        regions, scores, records, agreement({ZSCORE: zscore_regions, **regions}, langs)
    )


def lape_probabilities(
    positive: da.Array,
    n_tokens: np.ndarray,
    grids: np.ndarray,
    n_layers: int,
    n_neurons: int,
    bar: tqdm,
) -> np.ndarray:
    """Activation probabilities [B, L, N] under each labelling of ``grids`` [B, L, sids] (the first:
    the true one)."""
    indicator = language_indicator(grids, len(n_tokens))  # [B*L, n]
    tokens = indicator.astype(np.float64) @ np.asarray(n_tokens, dtype=np.float64)
    probability = np.empty((len(indicator), n_layers * n_neurons), dtype=np.float32)
    for layer, counts in enumerate(panels(positive, n_layers, n_neurons)):
        # counts below 2^24 sum exactly in float32
        probability[:, layer * n_neurons : (layer + 1) * n_neurons] = (
            indicator @ counts.astype(np.float32)
        ) / tokens[:, None]
        bar.update()
    return probability.reshape(*grids.shape[:2], -1)


def language_average_precision(
    pooled: da.Array,
    grids: np.ndarray,
    n_layers: int,
    n_neurons: int,
    columns: np.ndarray,
    bar: tqdm,
) -> tuple[np.ndarray, np.ndarray]:
    """AP of every neuron for each language [L, N] under the true labels ``grids[0]``, and of the
    neurons ``columns`` under each shuffled labelling ``grids[1:]`` [B-1, L, len(columns)]."""
    n_langs = grids.shape[1]
    # [B, n]: each row's language per labelling
    row_langs = np.empty((len(grids), grids[0].size), dtype=np.int16)
    for labelling, grid in enumerate(grids):
        for lang, rows in enumerate(grid):
            row_langs[labelling, rows] = lang
    ap = np.empty((n_langs, n_layers * n_neurons))
    null = np.empty((len(grids) - 1, n_langs, len(columns)))
    for layer, values in enumerate(panels(pooled, n_layers, n_neurons)):
        first = layer * n_neurons
        for start in range(0, n_neurons, SUB_PANEL):
            ranked = ranking(values[:, start : start + SUB_PANEL])
            for lang in range(n_langs):
                ap[lang, first + start : first + start + ranked[0].shape[1]] = (
                    ranked_average_precision(ranked, row_langs[0] == lang)
                )
        low, high = np.searchsorted(columns, [first, first + n_neurons])
        if low < high and len(grids) > 1:
            ranked = ranking(values[:, columns[low:high] - first])
            for labelling, lang in itertools.product(range(1, len(grids)), range(n_langs)):
                null[labelling - 1, lang, low:high] = ranked_average_precision(
                    ranked, row_langs[labelling] == lang
                )
        bar.update()
    return ap, null


def agreement(regions: dict[str, np.ndarray], langs: list[str]) -> Agreement:
    """Jaccard per language of every two methods' regions, with the chance level of random regions
    of their sizes."""
    pairs = list(itertools.combinations(regions, 2))
    return Agreement(
        jaccard={
            f"{a}-{b}": dict(zip(langs, jaccard(regions[a], regions[b]).tolist())) for a, b in pairs
        },
        chance={
            f"{a}-{b}": dict(zip(langs, chance_jaccard(regions[a], regions[b]).tolist()))
            for a, b in pairs
        },
    )


def _lape(probability: np.ndarray, peers: PeerSettings) -> np.ndarray:
    return lape_regions(
        probability,
        top_rate=peers.lape_top_rate,
        filter_rate=peers.lape_filter_rate,
        activation_bar_ratio=peers.lape_bar_ratio,
    )


def _lape_selectivity(probability: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """[L]: the mean specificity 1 - H/ln L of each language's neurons (NaN: it has none)."""
    specificity = 1 - activation_entropy(probability) / math.log(probability.shape[0])
    return _region_means(specificity[None, :].repeat(len(regions), axis=0), regions)


def imported_record(
    method: str,
    regions: np.ndarray,
    langs: list[str],
    n_layers: int,
    source: str,
    probability: np.ndarray | None = None,
) -> MethodRegions:
    """The record of regions made elsewhere (``lfe import``): sizes and per-layer counts, LAPE's
    selectivity when the activation probabilities are known (NaN otherwise), no null (the regions
    were not chosen here)."""
    observed = (
        _lape_selectivity(probability, regions)
        if probability is not None and method == LAPE
        else np.full(len(langs), np.nan)
    )
    return replace(
        _record(method, regions, langs, n_layers, observed, np.empty((0, len(langs)))),
        source=source,
    )


def _top_mean(ap: np.ndarray, k: int) -> np.ndarray:
    """[L]: the mean of each language's ``k`` highest values."""
    return -np.sort(-ap, axis=1)[:, :k].mean(axis=1)


def _region_means(values: np.ndarray, regions: np.ndarray) -> np.ndarray:
    sizes = regions.sum(axis=1)
    totals = np.where(regions, values, 0).sum(axis=1)
    return np.divide(totals, sizes, out=np.full(len(sizes), np.nan), where=sizes > 0)


def _record(
    method: str,
    regions: np.ndarray,
    langs: list[str],
    n_layers: int,
    observed: np.ndarray,
    null: np.ndarray,
    neurons_sampled: int | None = None,
) -> MethodRegions:
    """``method``'s record: sizes, per-layer counts, and each language's selectivity against
    ``null`` [B, L]."""
    sizes = regions.sum(axis=1)
    counts = layer_counts(regions, n_layers)
    nulls = {}
    for index, lang in enumerate(langs):
        shuffled = null[:, index][np.isfinite(null[:, index])] if len(null) else null
        if len(shuffled) and np.isfinite(observed[index]):
            nulls[lang] = summarize(float(observed[index]), shuffled, LANGUAGES_SHUFFLED)
    return MethodRegions(
        method=method,
        region_sizes=dict(zip(langs, sizes.tolist())),
        region_percent={
            lang: 100 * int(size) / regions.shape[1] for lang, size in zip(langs, sizes)
        },
        key_neurons_per_layer={lang: counts[index].tolist() for index, lang in enumerate(langs)},
        selectivity=dict(zip(langs, observed.astype(float).tolist())),
        selectivity_null=nulls,
        measure=MEASURES[method],
        neurons_sampled=neurons_sampled,
    )
