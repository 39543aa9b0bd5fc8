"""CSV tables: one writer, and the tables of an analysis, an ablation and an evolution."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable, Sequence

from lfe.records import FULL_MODEL, AblationTable, Alignment, AnalysisRecord, EvolutionRow


def write_csv(path: Path, header: Sequence, rows: Iterable[Sequence]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def analysis_tables(record: AnalysisRecord, folder: Path) -> None:
    """layers.csv, regions.csv, key_neurons_per_layer.csv and overlap.csv of one checkpoint's
    analysis."""
    columns = [
        column
        for column in Alignment.COLUMNS
        if record.whole.has_intervals or not column.endswith(("_low", "_high"))
    ]
    nulls = [
        (measure, part)
        for measure in ("lrds", "sads")
        for part in ("mean", "p95", "p_value")
        if record.layers and getattr(record.layers[0], f"{measure}_null") is not None
    ]
    write_csv(
        folder / "layers.csv",
        ["layer", *columns, *(f"{measure}_null_{part}" for measure, part in nulls)],
        [
            [
                index,
                *(getattr(layer, column) for column in columns),
                *(getattr(getattr(layer, f"{measure}_null"), part) for measure, part in nulls),
            ]
            for index, layer in enumerate(record.layers)
        ],
    )
    write_csv(
        folder / "regions.csv",
        ["lang", "key_neurons", "percent"],
        [[lang, size, record.region_percent[lang]] for lang, size in record.region_sizes.items()],
    )
    write_csv(
        folder / "key_neurons_per_layer.csv",
        ["lang", *[f"layer_{m}" for m in range(len(record.layers))]],
        [[lang, *counts] for lang, counts in record.key_neurons_per_layer.items()],
    )
    write_csv(
        folder / "overlap.csv",
        ["lang", *record.languages],
        [[lang, *row] for lang, row in zip(record.languages, record.overlap)],
    )


def ablation_table(table: AblationTable, path: Path) -> Path:
    """table.csv: evaluated language, full-model perplexity, then each region's percent increase."""
    names = table.columns
    return write_csv(
        path,
        ["language", f"{FULL_MODEL} perplexity", *names],
        [
            [lang, table.perplexity[lang][FULL_MODEL], *(row[name] for name in names)]
            for lang, row in table.increase_percent.items()
        ],
    )


def evolution_table(rows: list[EvolutionRow], path: Path) -> Path:
    """evolution.csv: ``EvolutionRow.CSV_COLUMNS``, each language's key-region percent with its
    chance level (the null's mean and 95th percentile, p) and the excess over it, then each
    harness score."""
    langs = sorted({lang for row in rows for lang in row.region_percent})
    tasks = sorted({key for row in rows for key in row.harness_full or {}})
    parts = ("region_percent", "region_null_mean", "region_null_p95", "region_p")
    return write_csv(
        path,
        [
            *EvolutionRow.CSV_COLUMNS,
            *(f"{part}_{lang}" for lang in langs for part in (*parts, "region_above_chance")),
            *(f"harness_full {key}" for key in tasks),
        ],
        [
            [row.column(key) for key in EvolutionRow.CSV_COLUMNS]
            + [value for lang in langs for value in _region_columns(row, lang)]
            + [(row.harness_full or {}).get(key) for key in tasks]
            for row in rows
        ],
    )


def _region_columns(row: EvolutionRow, lang: str) -> list[float | None]:
    """``lang``'s key-region percent, its null's mean, 95th percentile and p, and the excess."""
    null = row.region_null.get(lang)
    return [
        row.region_percent.get(lang),
        *((None, None, None) if null is None else (null.mean, null.p95, null.p_value)),
        row.region_above_chance.get(lang),
    ]
