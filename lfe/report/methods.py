"""The methods compared (``lfe analyze --method``): the paper's z-score regions next to LAPE's and
AP's, as tables, one figure and a report section, all from the ``AnalysisRecord``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lfe.records import ZSCORE, AnalysisRecord
from lfe.report.plotting import layer_axis, pyplot, save, title
from lfe.report.tables import write_csv

FIGURE = "methods.png"


def _sizes(record: AnalysisRecord) -> dict[str, dict[str, int]]:
    """method -> language -> neurons, the z-score regions first."""
    return {
        ZSCORE: record.region_sizes,
        **{method: found.region_sizes for method, found in record.methods.items()},
    }


def _per_layer(record: AnalysisRecord) -> dict[str, np.ndarray]:
    """method -> [layers]: its neurons in each layer, summed over languages."""
    counts = {
        ZSCORE: record.key_neurons_per_layer,
        **{method: found.key_neurons_per_layer for method, found in record.methods.items()},
    }
    return {method: np.sum(list(per_lang.values()), axis=0) for method, per_lang in counts.items()}


def methods_tables(record: AnalysisRecord, folder: Path) -> None:
    """methods.csv (each method's regions, selectivity and its chance level) and agreement.csv."""
    rows = []
    for method, found in record.methods.items():
        for lang, size in found.region_sizes.items():
            null = found.selectivity_null.get(lang)
            rows.append(
                [
                    method,
                    lang,
                    size,
                    found.region_percent[lang],
                    found.selectivity[lang],
                    *((null.mean, null.p95, null.p_value) if null else ("", "", "")),
                ]
            )
    write_csv(
        folder / "methods.csv",
        [
            "method",
            "lang",
            "neurons",
            "percent",
            "selectivity",
            "selectivity_null_mean",
            "selectivity_null_p95",
            "p",
        ],
        rows,
    )
    if record.agreement is not None:
        write_csv(
            folder / "agreement.csv",
            ["methods", "lang", "jaccard", "chance"],
            [
                [pair, lang, value, record.agreement.chance[pair][lang]]
                for pair, per_lang in record.agreement.jaccard.items()
                for lang, value in per_lang.items()
            ],
        )


def methods_figure(record: AnalysisRecord, path: Path) -> Path:
    """Left: Jaccard of every two methods' regions per language (chance in brackets); right: where
    each method's neurons sit, as a share of its neurons per layer."""
    plt = pyplot()
    assert record.agreement is not None
    pairs = list(record.agreement.jaccard)
    langs = list(record.languages)
    values = np.array(
        [[record.agreement.jaccard[pair][lang] for pair in pairs] for lang in langs], dtype=float
    )
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(12, 0.45 * len(langs) + 2.5), width_ratios=(1, 1.3)
    )
    image = left.imshow(values, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    left.set_xticks(
        range(len(pairs)), [pair.replace("-", " vs ") for pair in pairs], fontsize="small"
    )
    left.set_yticks(range(len(langs)), langs)
    for (i, j), value in np.ndenumerate(values):
        chance = record.agreement.chance[pairs[j]][langs[i]]
        left.text(
            j,
            i,
            f"{value:.2f} ({chance:.2f})",
            ha="center",
            va="center",
            fontsize="x-small",
            color="black" if value > 0.5 else "white",
        )
    left.set_title("Jaccard of the regions (chance)")
    figure.colorbar(image, ax=left, shrink=0.8)
    for method, counts in _per_layer(record).items():
        right.plot(
            np.arange(len(counts)),
            100 * counts / max(1, counts.sum()),
            marker="o",
            markersize=3,
            label=method,
        )
    layer_axis(right)
    right.set_ylabel("% of the method's neurons")
    right.set_title("Where each method's neurons are")
    right.legend(fontsize="small")
    figure.suptitle(title(record.checkpoint, "Key neurons by method"))
    return save(figure, path)


def methods_section(record: AnalysisRecord, figures: bool) -> list[str]:
    """The report's comparison of the methods: sizes, selectivity against chance, agreement."""
    if not record.methods:
        return []
    sizes = _sizes(record)
    peers = record.params.peers
    lines = [
        "",
        "## Methods compared",
        "",
        (
            f"z-score: the paper's ({record.params.rule}). LAPE (Tang et al. 2024): top rate"
            f" {peers.lape_top_rate}, filter rate {peers.lape_filter_rate}, activation bar ratio"
            f" {peers.lape_bar_ratio}. AP (Kojima et al. 2024): each language's top"
            f" {peers.ap_top_k} neurons by average precision of the pooled activation."
        ),
        "",
        "| language | " + " | ".join(f"{method} neurons" for method in sizes) + " |",
        "|---|" + "---|" * len(sizes),
        *(
            f"| {lang} | " + " | ".join(str(sizes[method][lang]) for method in sizes) + " |"
            for lang in record.languages
        ),
        "",
    ]
    for method, found in record.methods.items():
        lines += [
            f"Selectivity of {method}'s regions: {found.measure}; chance: the same with language"
            " labels shuffled within each sid"
            + (f" ({found.neurons_sampled:,} sampled neurons)" if found.neurons_sampled else "")
            + ".",
            "",
            "| language | selectivity | chance (null mean) | null 95th pct | p |",
            "|---|---|---|---|---|",
        ]
        for lang, value in found.selectivity.items():
            null = found.selectivity_null.get(lang)
            # NaN: the language has no neurons
            shown = "- (no neurons)" if value != value else f"{value:.3f}"
            lines.append(
                f"| {lang} | {shown} | "
                + (
                    f"{null.mean:.3f} | {null.p95:.3f} | {null.p_value:.3f} |"
                    if null
                    else "- | - | - |"
                )
            )
        lines.append("")
    if record.agreement is not None:
        pairs = list(record.agreement.jaccard)
        lines += [
            (
                "Agreement: Jaccard index of two methods' regions (chance: random regions of the"
                " same sizes)."
            ),
            "",
            "| language | " + " | ".join(pair.replace("-", " vs ") for pair in pairs) + " |",
            "|---|" + "---|" * len(pairs),
            *(
                f"| {lang} | "
                + " | ".join(
                    f"{record.agreement.jaccard[pair][lang]:.3f} "
                    f"({record.agreement.chance[pair][lang]:.3f})"
                    for pair in pairs
                )
                + " |"
                for lang in record.languages
            ),
            "",
        ]
    if figures and record.agreement is not None:
        lines += [f"![methods compared]({FIGURE})", ""]
    return lines + ["Tables: `methods.csv`, `agreement.csv`.", ""]
