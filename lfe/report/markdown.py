"""Markdown reports next to the figures and tables they show: one checkpoint's analysis, an ablation
table, an evolution table. Each function returns the text; ``lfe.report`` writes it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lfe.corpus import row_label
from lfe.records import (
    FULL_MODEL,
    AblationTable,
    Alignment,
    AnalysisRecord,
    Generation,
)
from lfe.report.methods import methods_section

if TYPE_CHECKING:
    from lfe.records import NullSummary

ANALYSIS_FIGURES = {  # file -> caption, in the order the report shows them after the similarity map
    "region_sizes.png": "region sizes",
    "key_neurons_per_layer.png": "key neurons per layer",
    "region_overlap.png": "overlap of key regions",
}


def analysis_report(record: AnalysisRecord, figures: bool = True) -> str:
    """The report's text: what was measured, on what, with which parameters, and the pictures."""
    whole, params = record.whole, record.params
    spec = record.source.spec if record.source else "?"
    lines = [
        f"# lfe report: {record.checkpoint}",
        "",
        (
            f"- model: {spec} ({record.family or '?'}, {record.n_layers} layers"
            f" x {record.n_neurons} neurons), weights sha256 {str(record.weights_hash)[:16]}"
        ),
        (
            f"- corpus: {len(record.languages)} languages ({', '.join(record.languages)}) x"
            f" {record.n_sids} sids, fingerprint {record.corpus_fingerprint[:16]}"
        ),
        f"- pooling: {record.pooling}; stored as {record.store_dtype}",
        (
            f"- key neurons: {params.rule}; z-scores across languages with the population std;"
            f" intervals: {params.n_boot} bootstrap resamples over sids, seed {params.seed}"
        ),
        "",
        "## Whole model",
        "",
        "| LRDS | 95% interval | SADS | 95% interval | SKLR (neurons) | SKLR (% of all) |",
        "|---|---|---|---|---|---|",
        (
            f"| {whole.lrds:.4f} | {whole.interval_text('lrds') or '-'} | {whole.sads:.4f} |"
            f" {whole.interval_text('sads') or '-'} | {record.sklr} | {record.sklr_percent:.2f} |"
        ),
        "",
        (
            "LRDS > 0: samples of one language are more alike than samples of different languages."
            " SADS > 0: translations of one sentence are more alike than unrelated sentences in"
            " other languages. SKLR sums the regions' sizes over languages (a neuron key for two"
            " languages counts twice)."
        ),
        "",
        *_chance_table(whole),
        *_trained_against_controls(record),
    ]
    if figures:
        lines += [
            "![similarity map](similarity_map.png)",
            "",
            "## Per layer",
            "",
            "![LRDS and SADS per layer](layer_lrds_sads.png)",
            "",
        ]
    else:
        lines += ["## Per layer", ""]
    lines += _layers_table(record)
    lines += ["", "## Key linguistic regions", "", *_regions_table(record)]
    if figures:
        for filename, caption in ANALYSIS_FIGURES.items():
            lines += ["", f"![{caption}]({filename})"]
    lines += methods_section(record, figures)
    lines += [
        "",
        (
            "Tables: `layers.csv`, `regions.csv`, `key_neurons_per_layer.csv`, `overlap.csv`; "
            "every number with its parameters: `metrics.json`."
        ),
        "",
    ]
    return "\n".join(lines)


def _layers_table(record: AnalysisRecord) -> list[str]:
    """Each layer's LRDS and SADS, with their chance levels and the layer's share of key neurons
    where computed."""
    chance = bool(record.layers) and record.layers[0].lrds_null is not None
    key = record.region_null.layer_percent if record.region_null and record.n_neurons else ()
    counts = np.sum(list(record.key_neurons_per_layer.values()), axis=0) if key else []
    header = ["layer", "LRDS", "SADS"] + (
        ["LRDS chance (95th pct)", "SADS chance (95th pct)"] if chance else []
    )
    header += ["key neurons, % (all languages)", "chance % (null mean)", "p"] if key else []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, layer in enumerate(record.layers):
        cells = [str(index), f"{layer.lrds:.4f}", f"{layer.sads:.4f}"]
        if layer.lrds_null is not None and layer.sads_null is not None:
            cells += [f"{layer.lrds_null.p95:.4f}", f"{layer.sads_null.p95:.4f}"]
        if key:
            cells += [
                f"{100 * counts[index] / record.n_neurons:.2f}",
                f"{key[index].mean:.2f}",
                f"{key[index].p_value:.3f}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _regions_table(record: AnalysisRecord) -> list[str]:
    """Each language's region (and SKLR) as a share of all neurons, next to its chance level where
    computed."""
    null = record.region_null
    if null is None:
        return [
            "| language | key neurons | % of all neurons |",
            "|---|---|---|",
            *(
                f"| {lang} | {size} | {record.region_percent[lang]:.2f} |"
                for lang, size in record.region_sizes.items()
            ),
        ]
    rows = [
        (lang, str(size), record.region_percent[lang], null.region_percent[lang])
        for lang, size in record.region_sizes.items()
    ]
    rows.append(("all (SKLR)", str(record.sklr), record.sklr_percent, null.sklr_percent))
    return [
        (
            f"Chance level: {null.sklr_percent.permutations} shuffles of the language labels within"
            f" each sid, estimated on {null.neurons_sampled:,} neurons drawn with the seed; above"
            " chance = % minus the null mean."
        ),
        "",
        (
            "| language | key neurons | % of all neurons | null mean % | null 95th pct % | above"
            " chance (points) | p |"
        ),
        "|---|---|---|---|---|---|---|",
        *(
            f"| {name} | {size} | {percent:.2f} | {chance.mean:.2f} | {chance.p95:.2f} |"
            f" {percent - chance.mean:+.2f} | {chance.p_value:.3f} |"
            for name, size, percent, chance in rows
        ),
    ]


def _trained_against_controls(record: AnalysisRecord) -> list[str]:
    """Trained, random weights and shuffled labels side by side (nothing without a random-weights
    control)."""
    control = record.random_weights
    if control is None:
        return []
    whole, regions = record.whole, record.region_null

    def chance(null: NullSummary | None) -> str:
        return "-" if null is None else f"{null.mean:.4f}"

    rows = [
        ("LRDS", whole.lrds, control.whole.lrds, chance(whole.lrds_null)),
        ("SADS", whole.sads, control.whole.sads, chance(whole.sads_null)),
        (
            "SKLR, % of all neurons",
            record.sklr_percent,
            control.sklr_percent,
            "-" if regions is None else f"{regions.sklr_percent.mean:.2f}",
        ),
    ]
    rows += [
        (
            f"{lang} region, %",
            percent,
            control.region_percent[lang],
            "-" if regions is None else f"{regions.region_percent[lang].mean:.2f}",
        )
        for lang, percent in record.region_percent.items()
    ]
    return [
        (
            "Trained weights against the same architecture and tokenizer with random weights (seed"
            f" {control.seed}, checkpoint `{control.checkpoint}`): what training made; and against"
            " shuffled labels (null mean)."
        ),
        "",
        "| measure | trained | random weights | shuffled labels |",
        "|---|---|---|---|",
        *(
            f"| {name} | {trained:.{2 if '%' in name else 4}f} |"
            f" {random:.{2 if '%' in name else 4}f} | {shuffled} |"
            for name, trained, random, shuffled in rows
        ),
        "",
    ]


def _chance_table(whole: Alignment) -> list[str]:
    """Each measure next to its permutation null (nothing when the analysis ran without one)."""
    rows = [
        (name.upper(), getattr(whole, name), getattr(whole, f"{name}_null"))
        for name in ("lrds", "sads")
        if getattr(whole, f"{name}_null") is not None
    ]
    if not rows:
        return []
    lines = [
        (
            "Chance level: the same measure with labels shuffled (p: the share of shuffles at or"
            " above the value)."
        ),
        "",
        "| measure | value | null mean | null 95th percentile | p | shuffles |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {value:.4f} | {null.mean:.4f} | {null.p95:.4f} | {null.p_value:.4f} | "
        f"{null.permutations}: {null.shuffled} |"
        for name, value, null in rows
    ]
    return [*lines, ""]


def ablation_report(table: AblationTable, generations: list[Generation] | None) -> str:
    """The paper's deactivation table with sizes, choice accuracies and generations where
    present."""
    params, names, increase = table.params, table.columns, table.increase_percent
    lines = [
        f"# Deactivating key regions: {table.checkpoint}",
        "",
        (
            "Percent increase in perplexity over the full model (rows: evaluated language;"
            f" columns: deactivated region, chosen by {params.method}). Random controls:"
            f" {params.random}, seed {params.seed}; window {params.window} tokens."
        ),
        "",
        "| language | full-model PPL | tokens | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for lang in increase:
        lines.append(
            f"| {lang} | {table.perplexity[lang][FULL_MODEL]:.2f} | {table.tokens[lang]} | "
            + " | ".join(f"{increase[lang][name]:.0f}%" for name in names)
            + " |"
        )
    lines += [
        "| region size | | | " + " | ".join(str(table.region_size[name]) for name in names) + " |",
        "| region % | | | "
        + " | ".join(f"{table.region_percent[name]:.1f}%" for name in names)
        + " |",
        "",
    ]
    if table.choice_accuracy:
        columns = [FULL_MODEL, *names]
        lines += [
            "## Cross-lingual choice accuracy",
            "",
            "| language | " + " | ".join(columns) + " |",
            "|---|" + "---|" * len(columns),
        ]
        lines += [
            f"| {lang} | " + " | ".join(f"{row[name]:.2f}" for name in columns) + " |"
            for lang, row in table.choice_accuracy.items()
        ]
        lines.append("")
    if table.harness:
        columns = [FULL_MODEL, *names]
        lines += [
            "## lm-evaluation-harness tasks",
            "",
            (
                f"Each task's score with each region deactivated ({table.harness_version}; limit "
                f"{params.lm_eval_limit or 'none'}; the harness's own prompts and tokenization)."
            ),
            "",
            "| task metric | " + " | ".join(columns) + " |",
            "|---|" + "---|" * len(columns),
            *(
                f"| {key} | " + " | ".join(f"{row[name]:.4f}" for name in columns) + " |"
                for key, row in table.harness.items()
            ),
            "",
        ]
    if table.generation_language:
        columns = list(table.generation_language)
        langs = list(table.generation_language[columns[0]])
        lines += [
            "## Continuations in the prompt's language",
            "",
            (
                "Share of greedy continuations identified as the prompt's language (LAPE's measure:"
                " deactivating a language's region should lower its own row, its random twin should"
                " not)."
            ),
            "",
            "| prompt language | " + " | ".join(columns) + " |",
            "|---|" + "---|" * len(columns),
            *(
                f"| {lang} | "
                + " | ".join(
                    f"{100 * table.generation_language[name][lang]:.0f}%" for name in columns
                )
                + " |"
                for lang in langs
            ),
            "",
        ]
    if generations:
        lines += ["## Greedy generations", ""]
        for row in generations:
            lines.append(f"- **{row_label(row.lang, row.sid)}** {row.prompt}")
            lines += [
                f"  - *{name}*"
                + (f" ({row.languages[name]})" if name in row.languages else "")
                + f": {text}"
                for name, text in row.continuations.items()
            ]
        lines.append("")
    lines.append("![heatmap](table.png)")
    return "\n".join(lines)
