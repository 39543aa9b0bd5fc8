"""The demo report's causal section: the deactivation table reduced to each language's own region
against its matched random twin, and the steering table, each next to its control."""

from __future__ import annotations

import statistics

from lfe.records import FULL_MODEL, AblationTable, SteerTable


def causal_section(
    ablation: AblationTable, steering: SteerTable, ablation_link: str, steering_link: str
) -> str:
    """Markdown: does switching off a language's region hurt it more than random neurons, and does
    forcing it make the model speak the language more than random neurons do?"""
    lines = [
        "",
        "## Causal tests",
        "",
        (
            f"Deactivation ({ablation.params.method} regions, held-out text, window"
            f" {ablation.params.window} tokens): the perplexity increase on each language when its"
            " own region is off, next to its matched random twin (as many random neurons) and the"
            " median over the other languages' regions."
        ),
        "",
        (
            "| language | full-model PPL | own region off | its random twin off | other regions off"
            " (median) |"
        ),
        "|---|---|---|---|---|",
    ]
    twin_of = {lang: column for column, lang in ablation.twins.items() if lang is not None}
    for lang, row in ablation.increase_percent.items():
        if lang not in row:
            continue
        others = [
            row[name]
            for name in ablation.columns
            if name not in (lang, FULL_MODEL) and name not in ablation.twins
        ]
        other = f"{statistics.median(others):+,.0f}%" if others else "-"
        twin = f"{row[twin_of[lang]]:+,.0f}%" if lang in twin_of else "-"
        lines.append(
            f"| {lang} | {ablation.perplexity[lang][FULL_MODEL]:.2f} | {row[lang]:+,.0f}% | {twin}"
            f" | {other} |"
        )
    lines += [
        "",
        f"Every region against every language: [{ablation_link}]({ablation_link}).",
        "",
        (
            f"Steering ({steering.params.method} regions forced to the target language's mean,"
            f" {steering.params.max_new_tokens} new tokens, languages identified by"
            f" {steering.language_id}): the share of continuations in the target language."
        ),
        "",
        "| from | to | full model | steered | random neurons forced |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {cell.source} | {cell.target} | {100 * cell.full.target:.0f}% |"
        f" {100 * cell.steered.target:.0f}% | {100 * cell.random.target:.0f}% |"
        for cell in steering.cells
    ]
    lines += ["", f"Examples and the heatmap: [{steering_link}]({steering_link}).", ""]
    return "\n".join(lines)
