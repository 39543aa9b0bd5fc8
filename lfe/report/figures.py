"""Figures a person reads: PNG files written next to the numbers they show.

One checkpoint's figures are drawn from what the store keeps: its ``AnalysisRecord`` (and, for the
similarity map, the stored map with its rows in language blocks), a path and an optional title
prefix (the checkpoint's name); each writes one PNG (the evolution figures:
``lfe.report.evolution``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from lfe.records import AnalysisRecord
from lfe.report.plotting import layer_axis, pyplot, save, title

if TYPE_CHECKING:
    pass

SIMILARITY_MAP = "similarity_map.png"


def in_language_blocks(similarity: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """S[o][:, o] with o = grid.ravel(): the map's rows and columns ordered by language, then
    sid."""
    order = grid.ravel()
    return similarity[np.ix_(order, order)]


def similarity_map(
    record: AnalysisRecord, blocks: np.ndarray, path: Path, prefix: str = ""
) -> Path:
    """The whole-model similarity map (``blocks``: rows by language then sid), language blocks
    labelled."""
    plt = pyplot()
    n_langs, n_sids = len(record.languages), record.n_sids
    figure, axes = plt.subplots(figsize=(7.5, 6.5))
    image = axes.imshow(blocks, cmap="viridis", interpolation="nearest")
    for edge in range(1, n_langs):
        axes.axhline(edge * n_sids - 0.5, color="white", linewidth=0.6)
        axes.axvline(edge * n_sids - 0.5, color="white", linewidth=0.6)
    centres = [(index + 0.5) * n_sids - 0.5 for index in range(n_langs)]
    axes.set_xticks(centres, record.languages)
    axes.set_yticks(centres, record.languages)
    axes.set_title(title(prefix, "Similarity of mean-pooled neuron activations"))
    figure.colorbar(image, ax=axes, label="cosine similarity", shrink=0.8)
    return save(figure, path)


def layer_curves(record: AnalysisRecord, path: Path, prefix: str = "") -> Path:
    """LRDS and SADS of each layer's own similarity map, with bootstrap intervals where computed."""
    plt = pyplot()
    layers = np.arange(len(record.layers))
    figure, axes = plt.subplots(figsize=(7.5, 4.2))
    for name, colour in (("lrds", "tab:red"), ("sads", "tab:blue")):
        values = np.array([getattr(layer, name) for layer in record.layers])
        axes.plot(layers, values, marker="o", markersize=3, color=colour, label=name.upper())
        if record.whole.has_intervals:
            low, high = zip(*(layer.interval(name) for layer in record.layers))
            axes.fill_between(layers, low, high, color=colour, alpha=0.2, linewidth=0)
        # the chance level: shuffled labels' 95th percentile
        if getattr(record.layers[0], f"{name}_null") is not None:
            axes.plot(
                layers,
                [getattr(layer, f"{name}_null").p95 for layer in record.layers],
                ":",
                color=colour,
                label=f"{name.upper()} chance (null 95th pct)",
            )
    axes.axhline(0, color="grey", linewidth=0.5)
    layer_axis(axes)
    axes.set_ylabel("score")
    axes.set_title(title(prefix, "LRDS and SADS per layer, 95% bootstrap intervals, chance level"))
    axes.legend()
    return save(figure, path)


def key_neurons_per_layer(record: AnalysisRecord, path: Path, prefix: str = "") -> Path:
    """Each language's key neurons in each layer (paper Fig. 5)."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(7.5, 4.2))
    for lang, counts in record.key_neurons_per_layer.items():
        axes.plot(np.arange(len(counts)), counts, marker="o", markersize=3, label=lang)
    layer_axis(axes)
    axes.set_ylabel("key neurons")
    axes.set_title(title(prefix, f"Key neurons per layer ({record.params.rule})"))
    axes.legend(ncol=min(5, len(record.languages)), fontsize="small")
    return save(figure, path)


def region_sizes(record: AnalysisRecord, path: Path, prefix: str = "") -> Path:
    """Size of each language's key region as a percent of all neurons (paper Fig. 6)."""
    plt = pyplot()
    langs = list(record.languages)
    sizes = [record.region_percent[lang] for lang in langs]
    figure, axes = plt.subplots(figsize=(7.5, 4.0))
    bars = axes.bar(langs, sizes, color="tab:purple")
    axes.bar_label(bars, labels=[f"{size:.2f}%" for size in sizes], fontsize="small")
    # the chance level of each region: shuffled labels' mean and 95th percentile
    if record.region_null is not None:
        chance = [record.region_null.region_percent[lang] for lang in langs]
        axes.errorbar(
            langs,
            [null.mean for null in chance],
            yerr=[[0] * len(chance), [null.p95 - null.mean for null in chance]],
            fmt="_",
            color="black",
            capsize=4,
            label="chance (null mean to 95th pct)",
        )
        axes.legend(fontsize="small")
    axes.set_ylabel("percent of all neurons")
    axes.set_title(
        title(
            prefix,
            f"Key region size per language, SKLR {record.sklr} neurons ({record.params.rule})",
        )
    )
    return save(figure, path)


def region_overlap(record: AnalysisRecord, path: Path, prefix: str = "") -> Path:
    """Neurons shared by two languages' key regions (diagonal: region size)."""
    plt = pyplot()
    langs, overlap = list(record.languages), np.asarray(record.overlap)
    figure, axes = plt.subplots(figsize=(6.5, 5.5))
    image = axes.imshow(overlap, cmap="magma")
    axes.set_xticks(range(len(langs)), langs)
    axes.set_yticks(range(len(langs)), langs)
    if len(langs) <= 12:
        limit = overlap.max() / 2 if overlap.size else 0
        for (i, j), value in np.ndenumerate(overlap):
            axes.text(
                j,
                i,
                str(value),
                ha="center",
                va="center",
                fontsize="x-small",
                color="black" if value > limit else "white",
            )
    axes.set_title(title(prefix, "Overlap of key regions (neurons)"))
    figure.colorbar(image, ax=axes, shrink=0.8)
    return save(figure, path)


RecordFigure = Callable[[AnalysisRecord, Path, str], Path]
# one checkpoint's figures after the similarity map, by file name
RECORD_FIGURES: dict[str, RecordFigure] = {
    "layer_lrds_sads.png": layer_curves,
    "key_neurons_per_layer.png": key_neurons_per_layer,
    "region_sizes.png": region_sizes,
    "region_overlap.png": region_overlap,
}


def ablation_heatmap(increase: dict[str, dict[str, float]], path: Path, prefix: str = "") -> Path:
    """Percent increase in perplexity: rows evaluated language, columns deactivated region."""
    plt = pyplot()
    langs = list(increase)
    names = list(next(iter(increase.values())))
    values = np.array([[increase[lang][name] for name in names] for lang in langs])
    figure, axes = plt.subplots(figsize=(1.0 + 0.7 * len(names), 1.2 + 0.45 * len(langs)))
    image = axes.imshow(
        np.log10(np.clip(values, 0, None) + 1),
        cmap="rocket_r" if "rocket_r" in plt.colormaps() else "Reds",
    )
    axes.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize="small")
    axes.set_yticks(range(len(langs)), langs)
    for (i, j), value in np.ndenumerate(values):
        axes.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize="x-small")
    axes.set_xlabel("deactivated region")
    axes.set_ylabel("evaluated language")
    axes.set_title(title(prefix, "perplexity increase, percent"))
    figure.colorbar(image, ax=axes, shrink=0.8, label="log10(1 + increase %)")
    return save(figure, path)
