"""The files of a steering run (``lfe steer``): steer.json with every continuation, steer.csv,
steer.md with examples, and steer.png (the share of continuations in the target language, steered
and random)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lfe.corpus import row_label
from lfe.records import CONDITIONS, RANDOM, SHARES, STEERED, SteeredText, SteerTable
from lfe.report.plotting import pyplot, save, title
from lfe.report.tables import write_csv

EXAMPLES = 2  # prompts shown per (source, target) pair in steer.md


def write_steering(table: SteerTable, texts: list[SteeredText], folder: Path) -> Path:
    """steer.json, steer.csv, steer.md and steer.png in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "steer.json").write_text(
        json.dumps(
            {**table.to_dict(), "texts": [text.to_dict() for text in texts]},
            indent=2,
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    write_csv(
        folder / "steer.csv",
        [
            "source",
            "target",
            "prompts",
            "region_size",
            *(f"{condition}_{share}" for condition in CONDITIONS for share in SHARES),
        ],
        [
            [
                cell.source,
                cell.target,
                cell.prompts,
                cell.region_size,
                *(
                    getattr(getattr(cell, condition), share)
                    for condition in CONDITIONS
                    for share in SHARES
                ),
            ]
            for cell in table.cells
        ],
    )
    (folder / "steer.md").write_text(steering_report(table, texts), encoding="utf-8")
    steering_heatmap(table, folder / "steer.png")
    return folder


def steering_report(table: SteerTable, texts: list[SteeredText]) -> str:
    """The table of shares with the random control next to each steered cell, then a few
    examples."""
    params = table.params
    zeroed = " and the source language's region zeroed" if params.zero_source else ""
    lines = [
        f"# Steering: {table.checkpoint}",
        "",
        (
            f"Greedy continuations ({params.max_new_tokens} new tokens) with the target language's"
            f" {params.method} region forced to {params.forced_to}{zeroed}; the random control"
            f" forces as many {params.random} random neurons (seed {params.seed}) to their"
            f" target-language means. Languages identified by {table.language_id}. Shares of"
            " continuations in the target language, the source (prompt) language and others."
        ),
        "",
        (
            "| from | to | prompts | neurons forced | full model: to | steered: to | steered: from"
            " | steered: other | random: to | random: from |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cell in table.cells:
        lines.append(
            f"| {cell.source} | {cell.target} | {cell.prompts} | {cell.region_size} | "
            f"{_percent(cell.full.target)} | **{_percent(cell.steered.target)}** | "
            f"{_percent(cell.steered.source)} | {_percent(cell.steered.other)} | "
            f"{_percent(cell.random.target)} | {_percent(cell.random.source)} |"
        )
    lines += [
        "",
        "![share of continuations in the target language](steer.png)",
        "",
        "## Examples",
        "",
    ]
    shown: dict[tuple[str, str], int] = {}
    for text in texts:
        pair = (text.lang, text.target)
        shown[pair] = shown.get(pair, 0) + 1
        if shown[pair] > EXAMPLES:
            continue
        lines.append(f"- **{row_label(text.lang, text.sid)} -> {text.target}** {text.prompt}")
        # one line each
        lines += [
            f"  - *{name}* ({text.languages[name]}): {' '.join(text.continuations[name].split())}"
            for name in CONDITIONS
        ]
    lines += [
        "",
        "Every continuation with its identified language: `steer.json`; the shares: `steer.csv`.",
        "",
    ]
    return "\n".join(lines)


def steering_heatmap(table: SteerTable, path: Path) -> Path:
    """Rows: source language; columns: target; left the steered model's share in the target
    language, right the control's."""
    plt = pyplot()
    sources = list(dict.fromkeys(cell.source for cell in table.cells))
    targets = list(dict.fromkeys(cell.target for cell in table.cells))
    figure, panels = plt.subplots(
        1, 2, figsize=(2.5 + 1.1 * len(targets), 1.5 + 0.5 * len(sources)), squeeze=False
    )
    for axes, condition in zip(panels[0], (STEERED, RANDOM)):
        values = np.full((len(sources), len(targets)), np.nan)
        for cell in table.cells:
            values[sources.index(cell.source), targets.index(cell.target)] = (
                100 * getattr(cell, condition).target
            )
        image = axes.imshow(values, cmap="viridis", vmin=0, vmax=100, aspect="auto")
        for (i, j), value in np.ndenumerate(values):
            if value == value:  # not NaN: the pair was run
                axes.text(
                    j,
                    i,
                    f"{value:.0f}",
                    ha="center",
                    va="center",
                    fontsize="small",
                    color="black" if value > 50 else "white",
                )
        axes.set_xticks(range(len(targets)), targets)
        axes.set_yticks(range(len(sources)), sources)
        axes.set_xlabel("steered to")
        axes.set_ylabel("prompt language")
        axes.set_title(f"{condition}: % in the target language")
        figure.colorbar(image, ax=axes, shrink=0.8)
    figure.suptitle(title(table.checkpoint, f"Steering with {table.params.method} regions"))
    return save(figure, path)


def _percent(share: float) -> str:
    return f"{100 * share:.0f}%"
