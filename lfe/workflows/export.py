"""``lfe export``: a checkpoint's key regions in layouts other tools read.

- ``csv``: a tidy table, one row per (language, layer, neuron) in a region, with its score and method;
- ``lape``: LAPE's ``activation_mask`` (Tang et al.'s code): ``torch.save`` of a list, per language, of
  per-layer LongTensors of neuron indices, so their generation scripts can use lfe's regions. The
  file holds no language names: the order is written beside it (``<file>.languages.json``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lfe.records import ZSCORE, AnalysisArrays
from lfe.report.tables import write_csv
from lfe.store import ActivationStore
from lfe.workflows.analyze import one_checkpoint
from lfe.workflows.paths import beside


def region_rows(languages, arrays: AnalysisArrays, method: str, width: int) -> list[list]:
    """[language, layer, neuron in layer, score, method] of every neuron in ``method``'s regions (``width`` neurons a layer)."""
    regions, scores = np.asarray(arrays.regions_of(method), dtype=bool), np.asarray(arrays.scores_of(method))
    return [[lang, int(k) // width, int(k) % width, float(scores[index, k]), method]
            for index, lang in enumerate(languages) for k in np.flatnonzero(regions[index])]


def export_regions(store: str | Path, fmt: str, *, checkpoint: str | None = None, method: str = ZSCORE,
                   out: str | Path | None = None) -> Path:
    """Write ``method``'s regions of ``checkpoint`` as ``fmt``; the path written."""
    opened = ActivationStore.open(store)
    checkpoint = one_checkpoint(opened, checkpoint)
    record, arrays = opened.analysis(checkpoint), opened.analysis_arrays(checkpoint)
    regions = np.asarray(arrays.regions_of(method), dtype=bool)
    n_layers = record.n_layers or opened.checkpoint(checkpoint).n_layers
    per_layer = regions.reshape(len(record.languages), n_layers, -1)
    path = Path(out) if out else beside(store, f"regions-{checkpoint}-{method}.{'pt' if fmt == 'lape' else 'csv'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        return write_csv(path, ["language", "layer", "neuron", "score", "method"],
                         region_rows(record.languages, arrays, method, per_layer.shape[2]))
    import torch

    torch.save([[torch.as_tensor(np.flatnonzero(layer), dtype=torch.long) for layer in lang] for lang in per_layer], path)
    Path(f"{path}.languages.json").write_text(json.dumps(
        {"languages": list(record.languages), "checkpoint": checkpoint, "method": method, "n_layers": n_layers,
         "n_neurons": per_layer.shape[2], "store": str(store)}, indent=2))
    return path
