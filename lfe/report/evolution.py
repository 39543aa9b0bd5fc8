"""``lfe evolve``'s report: evolution.md, every checkpoint's measures next to their chance levels
and their trends, and the evolution figures (each takes the rows and the x axis, writes one PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lfe.analysis.evolution import by_series
from lfe.records import EvolutionRow, EvolutionSettings, NullSummary, SeriesTrend
from lfe.report.plotting import pyplot, save

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def _chance(null: NullSummary | None, digits: int) -> str:
    """``mean / p95 (p 0.010)`` of a null, or "-" without one."""
    if null is None:
        return "-"
    return f"{null.mean:.{digits}f} / {null.p95:.{digits}f} (p {null.p_value:.3f})"


def _signed(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:+.{digits}f}"


def _measures_row(row: EvolutionRow, x: str) -> str:
    own = row.own_region_increase
    cells = [
        row.series,
        row.checkpoint + (" (duplicate)" if row.duplicate_of else ""),
        str(row.x(x)),
        f"{row.lrds:.4f}",
        _chance(row.lrds_null, 4),
        _signed(row.lrds_above_chance, 4),
        f"{row.sads:.4f}",
        _chance(row.sads_null, 4),
        _signed(row.sads_above_chance, 4),
        f"{row.sklr_percent:.2f}",
        _chance(row.sklr_null, 2),
        _signed(row.sklr_above_chance, 2),
        f"{row.key_layer_center:.3f}",
        "" if own is None else f"{own:.0f}",
    ]
    return "| " + " | ".join(cells) + " |"


def _region_cell(row: EvolutionRow, lang: str) -> str:
    """``1.23 (chance 0.45, +0.78)``: the region's percent, its null's 95th percentile, the
    excess over the null's mean."""
    null = row.region_null.get(lang)
    value = f"{row.region_percent[lang]:.2f}"
    if null is None:
        return value
    return f"{value} (chance {null.p95:.2f}, {row.region_above_chance[lang]:+.2f})"


def _regions_table(rows: list[EvolutionRow], x: str) -> list[str]:
    langs = list(rows[0].languages) if rows else []
    return [
        (
            "Key region of each language, percent of all neurons (chance: the 95th percentile of"
            " the same with labels shuffled; then the excess over the shuffles' mean):"
        ),
        "",
        f"| series | checkpoint | {x} | " + " | ".join(langs) + " |",
        "|---|---|---|" + "---|" * len(langs),
        *(
            f"| {row.series} | {row.checkpoint} | {row.x(x)} | "
            + " | ".join(
                _region_cell(row, lang) if lang in row.region_percent else "-" for lang in langs
            )
            + " |"
            for row in rows
        ),
    ]


def evolution_report(
    rows: list[EvolutionRow],
    settings: EvolutionSettings,
    trends: dict[str, SeriesTrend],
    figures: list[str],
) -> str:
    """The evolution table with every measure's chance level, the regions per language, the rank
    correlations with the x axis, and the figures."""
    x, analysis = settings.x, settings.analysis
    lines = [
        f"# Evolution against {'the training step' if x == 'step' else 'the parameter count'}",
        "",
        (
            f"Key neurons: {analysis.rule}; {analysis.n_boot} bootstrap resamples (seed"
            f" {analysis.seed}) for the 95% intervals. Chance: each measure of the same"
            f" checkpoint with labels shuffled ({analysis.null} shuffles for the regions,"
            f" {analysis.whole_null} for the whole model's LRDS and SADS; from each checkpoint's"
            " analysis), as the"
            " shuffles' mean / 95th percentile (p: the share of shuffles at or above the value);"
            " above chance: the value minus the shuffles' mean."
        ),
        "",
        (
            f"| series | checkpoint | {x} | LRDS | chance | above | SADS | chance | above |"
            " SKLR % | chance | above | key-neuron depth (0 first, 1 last) |"
            " own-region PPL increase % |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(_measures_row(row, x) for row in rows),
        "",
        *_regions_table(rows, x),
        "",
        "Spearman rank correlation with the x axis (+1: rises throughout, -1: falls throughout):",
        "",
        "| series | " + " | ".join(SeriesTrend.__dataclass_fields__) + " |",
        "|---|" + "---|" * len(SeriesTrend.__dataclass_fields__),
    ]
    lines += [
        f"| {name} | " + " | ".join(f"{value:+.2f}" for value in trend.to_dict().values()) + " |"
        for name, trend in trends.items()
    ]
    if figures:
        lines.append("")
        lines += [f"![{filename}]({filename})" for filename in figures]
    return "\n".join(lines) + "\n"


def _x_axis(axes: Axes, x: str, rows: list[EvolutionRow]) -> None:
    axes.set_xlabel("training step" if x == "step" else "parameters")
    values = [row.x(x) or 0 for row in rows]
    positive = [value for value in values if value > 0]
    if x == "params" or (positive and max(positive) / min(positive) > 100):
        if 0 in values:  # step 0 (the initial weights) stays on the axis
            axes.set_xscale("symlog", linthresh=max(1, min(positive, default=1)))
        else:
            axes.set_xscale("log")


def _null_band(axes: Axes, xs: list, nulls: list[NullSummary | None], color: str) -> None:
    """The chance level of a measure along a series: a band from the shuffles' mean to their 95th
    percentile, its top dashed (drawn where every point of the series has a null)."""
    if not nulls or any(null is None for null in nulls):
        return
    means = [null.mean for null in nulls if null is not None]
    tops = [null.p95 for null in nulls if null is not None]
    axes.fill_between(xs, means, tops, color=color, alpha=0.12, linewidth=0, hatch="//")
    axes.plot(xs, tops, ":", color=color, linewidth=1)


def evolution_alignment(rows: list[EvolutionRow], x: str, path: Path) -> Path:
    """LRDS and SADS of the whole model against the step or the size, with 95% intervals (paper Fig.
    4) and the chance level of each (shuffled labels: mean to 95th percentile, hatched)."""
    plt = pyplot()
    figure, panels = plt.subplots(1, 2, figsize=(11, 4.2))
    for axes, key, heading in (
        (panels[0], "lrds", "LRDS (language separation)"),
        (panels[1], "sads", "SADS (semantic alignment)"),
    ):
        for name, series in by_series(rows).items():
            xs = [row.x(x) for row in series]
            (line,) = axes.plot(
                xs, [getattr(row, key) for row in series], marker="o", markersize=3, label=name
            )
            if getattr(series[0], f"{key}_low") is not None:
                axes.fill_between(
                    xs,
                    [getattr(row, f"{key}_low") for row in series],
                    [getattr(row, f"{key}_high") for row in series],
                    color=line.get_color(),
                    alpha=0.2,
                    linewidth=0,
                )
            _null_band(axes, xs, [getattr(row, f"{key}_null") for row in series], line.get_color())
        axes.axhline(0, color="grey", linewidth=0.5)
        _x_axis(axes, x, rows)
        axes.set_title(heading)
    panels[0].legend(fontsize="small")
    return save(figure, path)


def evolution_regions(rows: list[EvolutionRow], x: str, path: Path) -> Path:
    """SKLR and each language's key-region size against the step or the size (paper Fig. 5), with
    their chance levels (shuffled labels: mean to 95th percentile, hatched)."""
    plt = pyplot()
    figure, panels = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = ["-", "--", ":", "-."]
    for index, (name, series) in enumerate(by_series(rows).items()):
        xs = [row.x(x) for row in series]
        (line,) = panels[0].plot(
            xs, [row.sklr_percent for row in series], marker="o", markersize=3, label=name
        )
        _null_band(panels[0], xs, [row.sklr_null for row in series], line.get_color())
        for lang in series[0].region_percent:
            (line,) = panels[1].plot(
                xs,
                [row.region_percent[lang] for row in series],
                styles[index % len(styles)],
                marker="o",
                markersize=2,
                label=lang if index == 0 else None,
            )
            _null_band(
                panels[1], xs, [row.region_null.get(lang) for row in series], line.get_color()
            )
    panels[0].set_ylabel("SKLR, percent of all neurons")
    panels[0].set_title("Size of all key linguistic regions (hatched: chance)")
    panels[0].legend(fontsize="small")
    panels[1].set_ylabel("percent of all neurons")
    panels[1].set_title(
        "Key region per language" + (" (line style: series)" if len(by_series(rows)) > 1 else "")
    )
    panels[1].legend(fontsize="x-small", ncol=2)
    for axes in panels:
        _x_axis(axes, x, rows)
    return save(figure, path)


def evolution_layers(rows: list[EvolutionRow], x: str, path: Path) -> Path:
    """Share of each layer in all key neurons, per checkpoint, and its centre of depth (paper Fig.
    7)."""
    plt = pyplot()
    groups = by_series(rows)
    figure, panels = plt.subplots(
        1, len(groups) + 1, figsize=(4.5 * (len(groups) + 1), 4.2), squeeze=False
    )
    for axes, (name, series) in zip(panels[0], groups.items()):
        shares = np.array(
            [np.sum(list(row.key_neurons_per_layer.values()), axis=0) for row in series],
            dtype=float,
        )
        shares /= np.maximum(shares.sum(axis=1, keepdims=True), 1)
        image = axes.imshow(
            shares.T, aspect="auto", origin="lower", cmap="viridis", interpolation="nearest"
        )
        axes.set_xticks(
            range(len(series)), [str(row.x(x)) for row in series], rotation=60, fontsize="x-small"
        )
        axes.set_yticks(range(shares.shape[1]))
        axes.set_xlabel("training step" if x == "step" else "parameters")
        axes.set_ylabel("layer")
        axes.set_title(f"{name}: share of key neurons per layer", fontsize="small")
        figure.colorbar(image, ax=axes, shrink=0.8)
    centre = panels[0][-1]
    for name, series in groups.items():
        centre.plot(
            [row.x(x) for row in series],
            [row.key_layer_center for row in series],
            marker="o",
            markersize=3,
            label=name,
        )
    centre.set_ylim(0, 1)
    centre.set_ylabel("centre of key neurons in depth (0 first, 1 last layer)")
    _x_axis(centre, x, rows)
    centre.legend(fontsize="small")
    return save(figure, path)


def evolution_ablation(rows: list[EvolutionRow], x: str, path: Path) -> Path:
    """Perplexity increase from switching off each language's own region vs its random twin, per
    checkpoint."""
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(7.5, 4.2))
    for name, series in by_series(
        [row for row in rows if row.own_region_increase is not None]
    ).items():
        xs = [row.x(x) for row in series]
        (line,) = axes.plot(
            xs,
            [row.own_region_increase for row in series],
            marker="o",
            markersize=3,
            label=f"{name}: own region",
        )
        if series[0].random_twin_increase is not None:
            axes.plot(
                xs,
                [row.random_twin_increase for row in series],
                "--",
                color=line.get_color(),
                label=f"{name}: random twin",
            )
    axes.set_yscale("symlog")
    axes.set_ylabel("perplexity increase, percent (mean over languages)")
    _x_axis(axes, x, rows)
    axes.set_title("Deactivating key regions")
    axes.legend(fontsize="small")
    return save(figure, path)


ABLATION_EVOLUTION = "evolution_ablation.png"
EVOLUTION = {  # the figures of `lfe evolve`, by file name
    "evolution_alignment.png": evolution_alignment,
    "evolution_regions.png": evolution_regions,
    "evolution_layers.png": evolution_layers,
    ABLATION_EVOLUTION: evolution_ablation,
}
