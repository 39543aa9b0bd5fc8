"""``lfe export`` and ``lfe import``: a checkpoint's key regions in layouts other tools read, and
back.

- ``csv`` (or ``parquet``, with pyarrow): a tidy table, one row per (language, layer, neuron) in a
region, with
  its score and method;
- ``lape``: LAPE's ``activation_mask`` (Tang et al.'s code): ``torch.save`` of a list, per language,
of
  per-layer LongTensors of neuron indices, so their generation scripts can use lfe's regions. The
  file holds no language names: the order is written beside it (``<file>.languages.json``).

``lfe import`` reads such a mask (LAPE's own, or lfe's) as the LAPE regions of a checkpoint's
analysis, so ``lfe ablate --method lape`` and ``lfe steer --method lape`` test regions found by
LAPE's code.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from lfe.analysis.peers import agreement, imported_record
from lfe.corpus.codes import short_code
from lfe.errors import LfeError, listing
from lfe.log import logger
from lfe.records import LAPE, METHODS, ZSCORE, AnalysisArrays, AnalysisRecord
from lfe.report.tables import write_csv
from lfe.store import ActivationStore
from lfe.workflows.paths import beside

REGION_COLUMNS = ("language", "layer", "neuron", "score", "method")


def _write_parquet(path: Path, rows: list[list]) -> Path:
    try:
        import pyarrow as pa
        import pyarrow.parquet as parquet
    except ImportError:
        raise LfeError(
            "--regions parquet needs pyarrow: pip install 'lfe[parquet]' (or write csv)"
        ) from None
    parquet.write_table(
        pa.table({name: [row[index] for row in rows] for index, name in enumerate(REGION_COLUMNS)}),
        path,
    )
    return path


def region_rows(languages, arrays: AnalysisArrays, method: str, width: int) -> list[list]:
    """[language, layer, neuron in layer, score, method] of every neuron in ``method``'s regions
    (``width`` neurons a layer)."""
    regions, scores = (
        np.asarray(arrays.regions_of(method), dtype=bool),
        np.asarray(arrays.scores_of(method)),
    )
    return [
        [lang, int(k) // width, int(k) % width, float(scores[index, k]), method]
        for index, lang in enumerate(languages)
        for k in np.flatnonzero(regions[index])
    ]


def export_regions(
    store: str | Path,
    fmt: str,
    *,
    checkpoint: str | None = None,
    method: str = ZSCORE,
    out: str | Path | None = None,
) -> Path:
    """Write ``method``'s regions of ``checkpoint`` as ``fmt``; the path written."""
    opened = ActivationStore.open(store)
    checkpoint = opened.one_checkpoint(checkpoint)
    record, arrays = opened.analysis(checkpoint), opened.analysis_arrays(checkpoint)
    regions = np.asarray(arrays.regions_of(method), dtype=bool)
    n_layers = record.n_layers or opened.checkpoint(checkpoint).n_layers
    per_layer = regions.reshape(len(record.languages), n_layers, -1)
    path = (
        Path(out)
        if out
        else beside(store, f"regions-{checkpoint}-{method}.{'pt' if fmt == 'lape' else fmt}")
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt in ("csv", "parquet"):
        rows = region_rows(record.languages, arrays, method, per_layer.shape[2])
        return write_csv(path, REGION_COLUMNS, rows) if fmt == "csv" else _write_parquet(path, rows)
    import torch

    torch.save(
        [
            [torch.as_tensor(np.flatnonzero(layer), dtype=torch.long) for layer in lang]
            for lang in per_layer
        ],
        path,
    )
    Path(f"{path}.languages.json").write_text(
        json.dumps(
            {
                "languages": list(record.languages),
                "checkpoint": checkpoint,
                "method": method,
                "n_layers": n_layers,
                "n_neurons": per_layer.shape[2],
                "store": str(store),
            },
            indent=2,
        )
    )
    return path


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
    import torch

    opened = ActivationStore.open(store, mode="r+")
    checkpoint = opened.one_checkpoint(checkpoint)
    record, arrays = opened.analysis(checkpoint), opened.analysis_arrays(checkpoint)
    n_layers = record.n_layers or opened.checkpoint(checkpoint).n_layers
    width = np.asarray(arrays.regions).shape[1] // n_layers
    try:
        per_language = torch.load(mask, weights_only=True)
    except Exception as error:  # noqa: BLE001 - pickle, zip and torch each raise their own type
        raise LfeError(
            f"{mask} is not a torch.save file ({type(error).__name__}); pass LAPE's activation_mask"
        ) from None
    rows = _store_rows(list(record.languages), _mask_languages(mask, languages), len(per_language))
    regions = np.zeros_like(np.asarray(arrays.regions), dtype=bool)
    for row, layers in zip(rows, per_language):
        if not isinstance(layers, (list, tuple)) or len(layers) != n_layers:
            raise LfeError(
                f"{mask}: each language needs a list of {n_layers} index tensors (one per layer of"
                f" {checkpoint})"
            )
        for layer, neurons in enumerate(layers):
            neurons = np.asarray(torch.as_tensor(neurons).cpu(), dtype=np.int64).reshape(-1)
            if neurons.size and (neurons.min() < 0 or neurons.max() >= width):
                raise LfeError(
                    f"{mask}: layer {layer} has neuron indices outside 0..{width - 1} ({checkpoint}"
                    f" has {width})"
                )
            regions[row, layer * width + neurons] = True
    missing = [lang for index, lang in enumerate(record.languages) if index not in rows]
    if missing:
        logger.warning(
            f"the mask has no region for {listing(missing)}: their LAPE regions are empty"
        )
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


def _mask_languages(mask: str | Path, languages: list[str] | None) -> list[str]:
    order_file = Path(f"{mask}.languages.json")
    if languages:
        return languages
    if order_file.is_file():
        return list(json.loads(order_file.read_text(encoding="utf-8"))["languages"])
    raise LfeError(
        f"{mask} holds no language names and {order_file.name} is not beside it: pass --languages"
        " in the mask's order (LAPE's scripts use the order of their language list)"
    )


def _store_rows(store_langs: list[str], mask_langs: list[str], n_regions: int) -> list[int]:
    """The store's language row of each of the mask's languages, matched directly or by short
    code."""
    if len(mask_langs) != n_regions:
        raise LfeError(
            f"the mask has {n_regions} languages' regions but {len(mask_langs)} names were given "
            f"({', '.join(mask_langs)})"
        )
    by_short = {short_code(lang): index for index, lang in enumerate(store_langs)}
    rows = [
        store_langs.index(lang) if lang in store_langs else by_short.get(short_code(lang), -1)
        for lang in mask_langs
    ]
    unknown = [lang for lang, row in zip(mask_langs, rows) if row < 0]
    if unknown:
        raise LfeError(
            f"the store's analysis has no language {listing(unknown)}; it has"
            f" {listing(store_langs)}"
        )
    return rows
