"""What a person reads: figures (PNG), Markdown reports and CSV tables, written next to each other.

Each ``write_*`` function takes records and arrays already computed and writes one folder; nothing
here computes a finding. Never imports torch or lfe.engine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from lfe.records import (
    AblationTable,
    AnalysisArrays,
    AnalysisRecord,
    EvolutionRow,
    EvolutionSettings,
    Generation,
    SeriesTrend,
    SteerTable,
)
from lfe.report import figures as draw
from lfe.report.causal import causal_section
from lfe.report.evolution import ABLATION_EVOLUTION, EVOLUTION, evolution_report
from lfe.report.markdown import ablation_report, analysis_report
from lfe.report.methods import FIGURE as METHODS_FIGURE
from lfe.report.methods import methods_figure, methods_tables
from lfe.report.steering import write_steering
from lfe.report.tables import ablation_table, analysis_tables, evolution_table

__all__ = [
    "append_causal_section",
    "write_ablation",
    "write_analysis",
    "write_evolution",
    "write_steering",
]


def write_analysis(
    record: AnalysisRecord,
    arrays: AnalysisArrays,
    folder: Path,
    *,
    grid: np.ndarray,
    figures: bool = True,
) -> Path:
    """metrics.json, the CSV tables, report.md and (unless ``figures`` is False) the PNG figures of
    one checkpoint's analysis, from what the store keeps of it (``grid``: the store row of each
    language and sid)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(record.to_dict(), indent=2))
    analysis_tables(record, folder)
    if figures:
        draw.similarity_map(
            record,
            draw.in_language_blocks(arrays.similarity, grid),
            folder / draw.SIMILARITY_MAP,
            prefix=record.checkpoint,
        )
        for filename, figure in draw.RECORD_FIGURES.items():
            figure(record, folder / filename, record.checkpoint)
    if record.methods:
        methods_tables(record, folder)
        if figures and record.agreement is not None:
            methods_figure(record, folder / METHODS_FIGURE)
    (folder / "report.md").write_text(analysis_report(record, figures), encoding="utf-8")
    return folder


def append_causal_section(
    report: Path,
    ablation: AblationTable,
    steering: SteerTable,
    ablation_folder: Path,
    steering_folder: Path,
) -> None:
    """End ``report`` (an analysis's report.md) with the causal tests of its regions, linking their
    folders."""
    here = report.parent
    links = (
        os.path.relpath(ablation_folder / "table.md", here),
        os.path.relpath(steering_folder / "steer.md", here),
    )
    with report.open("a", encoding="utf-8") as handle:
        handle.write(causal_section(ablation, steering, *links))


def write_ablation(
    table: AblationTable, generations: list[Generation] | None, folder: Path
) -> Path:
    """table.json (with the generations), table.csv, table.md and the heatmap table.png."""
    folder.mkdir(parents=True, exist_ok=True)
    saved = {**table.to_dict(), "generations": [row.to_dict() for row in generations or []]}
    (folder / "table.json").write_text(json.dumps(saved, indent=2, ensure_ascii=False))
    ablation_table(table, folder / "table.csv")
    (folder / "table.md").write_text(ablation_report(table, generations), encoding="utf-8")
    draw.ablation_heatmap(table.increase_percent, folder / "table.png", prefix=table.checkpoint)
    return folder


def write_evolution(
    rows: list[EvolutionRow],
    settings: EvolutionSettings,
    trends: dict[str, SeriesTrend],
    folder: Path,
    *,
    figures: bool = True,
) -> Path:
    """evolution.json (parameters, trends, rows), evolution.csv, evolution.md and the evolution
    figures."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "evolution.json").write_text(
        json.dumps(
            {
                "params": settings.to_dict(),
                "trends": {series: trend.to_dict() for series, trend in trends.items()},
                "rows": [row.to_dict() for row in rows],
            },
            indent=2,
        )
    )
    evolution_table(rows, folder / "evolution.csv")
    drawn = []
    if figures:
        for filename, figure in EVOLUTION.items():
            if filename == ABLATION_EVOLUTION and all(
                row.own_region_increase is None for row in rows
            ):
                continue  # no ablation was stored
            figure(rows, settings.x, folder / filename)
            drawn.append(filename)
    (folder / "evolution.md").write_text(
        evolution_report(rows, settings, trends, drawn), encoding="utf-8"
    )
    return folder
