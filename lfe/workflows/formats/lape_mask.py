"""LAPE's ``activation_mask`` (Tang et al.'s code): ``torch.save`` of a list, per language, of
per-layer LongTensors of neuron indices. The file holds no language names: lfe writes the order
beside it (``<file>.languages.json``) and reads it back from there or from the caller."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lfe.corpus.codes import short_code
from lfe.errors import LfeError, listing
from lfe.workflows.formats import Regions


def write_mask(regions: Regions, path: Path) -> Path:
    """The mask at ``path`` and the language order beside it."""
    import torch

    per_layer = regions.regions.reshape(len(regions.languages), regions.n_layers, -1)
    torch.save(
        [
            [torch.as_tensor(np.flatnonzero(layer), dtype=torch.long) for layer in lang]
            for lang in per_layer
        ],
        path,
    )
    order = {
        "languages": list(regions.languages),
        "checkpoint": regions.checkpoint,
        "method": regions.method,
        "n_layers": regions.n_layers,
        "n_neurons": regions.width,
    }
    Path(f"{path}.languages.json").write_text(json.dumps(order, indent=2))
    return path


def read_mask(
    mask: str | Path, languages: list[str] | None, into: Regions
) -> tuple[np.ndarray, list[str]]:
    """(the mask's regions [L, layers x width] in the rows of ``into``'s languages, the languages
    it has none for); ``languages`` names the mask's order (default: the file beside it)."""
    import torch

    try:
        per_language = torch.load(mask, weights_only=True)
    except Exception as error:  # noqa: BLE001 - pickle, zip and torch each raise their own type
        raise LfeError(
            f"{mask} is not a torch.save file ({type(error).__name__}); pass LAPE's activation_mask"
        ) from None
    store_langs = list(into.languages)
    rows = _store_rows(store_langs, _mask_languages(mask, languages), len(per_language))
    regions = np.zeros_like(into.regions, dtype=bool)
    width, n_layers = into.width, into.n_layers
    for row, layers in zip(rows, per_language):
        if not isinstance(layers, (list, tuple)) or len(layers) != n_layers:
            raise LfeError(
                f"{mask}: each language needs a list of {n_layers} index tensors (one per layer of"
                f" {into.checkpoint})"
            )
        for layer, neurons in enumerate(layers):
            neurons = np.asarray(torch.as_tensor(neurons).cpu(), dtype=np.int64).reshape(-1)
            if neurons.size and (neurons.min() < 0 or neurons.max() >= width):
                raise LfeError(
                    f"{mask}: layer {layer} has neuron indices outside 0..{width - 1}"
                    f" ({into.checkpoint} has {width})"
                )
            regions[row, layer * width + neurons] = True
    missing = [lang for index, lang in enumerate(store_langs) if index not in rows]
    return regions, missing


def _mask_languages(mask: str | Path, languages: list[str] | None) -> list[str]:
    order_file = Path(f"{mask}.languages.json")
    if languages:
        return languages
    if order_file.is_file():
        return list(json.loads(order_file.read_text(encoding="utf-8"))["languages"])
    raise LfeError.naming(
        f"{mask} holds no language names and {order_file.name} is not beside it: pass `languages`"
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
