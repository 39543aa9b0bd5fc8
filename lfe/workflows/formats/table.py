"""Regions as a tidy table: one row per (language, layer, neuron) in a region, with its score and
method; CSV, or Parquet (``pip install 'lfe[parquet]'``, i.e. pyarrow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lfe.errors import LfeError, Problem
from lfe.report.tables import write_csv
from lfe.workflows.formats import Regions

COLUMNS = ("language", "layer", "neuron", "score", "method")


def table_rows(regions: Regions) -> list[list]:
    """[language, layer, neuron in layer, score, method] of every neuron in the regions."""
    width = regions.width
    return [
        [lang, int(k) // width, int(k) % width, float(regions.scores[index, k]), regions.method]
        for index, lang in enumerate(regions.languages)
        for k in np.flatnonzero(regions.regions[index])
    ]


def write_csv_table(regions: Regions, path: Path) -> Path:
    """The table as CSV."""
    return write_csv(path, COLUMNS, table_rows(regions))


def write_parquet_table(regions: Regions, path: Path) -> Path:
    """The table as Parquet."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as parquet
    except ImportError:
        sentence = "parquet needs pyarrow: pip install 'lfe[parquet]' (or write csv)"
        raise LfeError.of(Problem("fmt", sentence)) from None
    rows = table_rows(regions)
    columns = {name: [row[index] for row in rows] for index, name in enumerate(COLUMNS)}
    parquet.write_table(pa.table(columns), path)
    return path
