"""``lfe export`` and ``lfe import``: a checkpoint's key regions in layouts other tools read, and
back; each format is one module of ``lfe.workflows.formats`` (``table``: CSV or Parquet;
``lape_mask``: LAPE's ``activation_mask``, so Tang et al.'s generation scripts can use lfe's
regions).

``lfe import`` reads such a mask (LAPE's own, or lfe's) as the LAPE regions of a checkpoint's
analysis, so ``lfe ablate --method lape`` and ``lfe steer --method lape`` test regions found by
LAPE's code.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from lfe.analysis.peers import agreement, imported_record
from lfe.errors import LfeError, Problem, listing
from lfe.log import logger
from lfe.records import LAPE, METHODS, ZSCORE, AnalysisRecord
from lfe.store import ActivationStore
from lfe.store.results import ANALYSIS
from lfe.workflows.formats import Regions
from lfe.workflows.formats.lape_mask import read_mask, write_mask
from lfe.workflows.formats.table import write_csv_table, write_parquet_table
from lfe.workflows.paths import beside

# each format's writer and file suffix
WRITERS: dict[str, tuple[Callable[[Regions, Path], Path], str]] = {
    "csv": (write_csv_table, "csv"),
    "parquet": (write_parquet_table, "parquet"),
    "lape": (write_mask, "pt"),
}


def stored_regions(opened: ActivationStore, checkpoint: str, method: str) -> Regions:
    """``method``'s regions of ``checkpoint``'s stored analysis, with their scores."""
    record, arrays = opened.analysis_with_arrays(checkpoint)
    n_layers = record.n_layers or opened.checkpoint(checkpoint).n_layers
    return replace(Regions.of(record, arrays, method, n_layers), checkpoint=checkpoint)


def export_regions(
    store: str | Path,
    fmt: str,
    *,
    checkpoint: str | None = None,
    method: str = ZSCORE,
    out: str | Path | None = None,
) -> Path:
    """Write ``method``'s regions of ``checkpoint`` as ``fmt``; the path written."""
    if fmt not in WRITERS:
        raise LfeError.of(Problem("fmt", f"{fmt!r} is not one of {', '.join(WRITERS)}"))
    opened = ActivationStore.open(store)
    checkpoint = opened.one_checkpoint(checkpoint)
    write, suffix = WRITERS[fmt]
    path = Path(out) if out else beside(store, f"regions-{checkpoint}-{method}.{suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return write(stored_regions(opened, checkpoint, method), path)


def import_lape_mask(
    store: str | Path,
    mask: str | Path,
    *,
    languages: list[str] | None = None,
    checkpoint: str | None = None,
) -> AnalysisRecord:
    """Make LAPE's ``activation_mask`` file the LAPE regions of ``checkpoint``'s analysis; the new
    record.

    The language order comes from ``languages``, else from ``<mask>.languages.json`` (what ``lfe
    export`` writes); codes match the store's directly or through ``lfe.corpus.codes`` (``en`` is
    ``eng_Latn``).
    """
    opened = ActivationStore.open(store, mode="r+")
    checkpoint = opened.one_checkpoint(checkpoint)
    with opened.writing(ANALYSIS):  # read, changed and written back as one
        return _with_lape_mask(opened, checkpoint, Path(mask), languages)


def _with_lape_mask(
    opened: ActivationStore, checkpoint: str, mask: Path, languages: list[str] | None
) -> AnalysisRecord:
    record, arrays = opened.analysis_with_arrays(checkpoint)
    regions, missing = read_mask(mask, languages, stored_regions(opened, checkpoint, ZSCORE))
    if missing:
        logger.warning(
            f"the mask has no region for {listing(missing)}: their LAPE regions are empty"
        )
    n_layers = record.n_layers or opened.checkpoint(checkpoint).n_layers
    # LAPE's scores when this analysis computed them; else unknown
    probability = arrays.lape_probability
    arrays = replace(
        arrays,
        lape_regions=regions,
        lape_probability=(
            probability
            if probability is not None
            else np.full(regions.shape, np.nan, dtype=np.float32)
        ),
    )
    methods = {
        **record.methods,
        LAPE: imported_record(
            LAPE, regions, list(record.languages), n_layers, str(mask), probability
        ),
    }
    compared = {
        method: arrays.regions_of(method)
        for method in METHODS
        if method == ZSCORE or method in methods
    }
    record = replace(record, methods=methods, agreement=agreement(compared, list(record.languages)))
    opened.write_analysis(checkpoint, record, arrays)
    return record
