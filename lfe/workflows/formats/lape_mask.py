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
    if not isinstance(per_language, (list, tuple)):
        raise LfeError(
            f"{mask} holds a {type(per_language).__name__}, not LAPE's activation_mask (a list, per"
            " language, of per-layer index tensors)"
        )
    store_langs, mask_langs = list(into.languages), _mask_languages(mask, languages)
    _check_made_for(mask, into)
    rows = _store_rows(store_langs, mask_langs, len(per_language))
    regions = np.zeros_like(into.regions, dtype=bool)
    width, n_layers = into.width, into.n_layers
    for row, lang, layers in zip(rows, mask_langs, per_language):
        if not isinstance(layers, (list, tuple)) or len(layers) != n_layers:
            raise LfeError(
                f"{mask}: each language needs a list of {n_layers} index tensors (one per layer of"
                f" {into.checkpoint})"
            )
        for layer, neurons in enumerate(layers):
            where = f"{mask}, language {lang}, layer {layer}"
            regions[row, layer * width + _indices(neurons, width, where)] = True
    missing = [lang for index, lang in enumerate(store_langs) if index not in rows]
    return regions, missing


def _indices(neurons: object, width: int, where: str) -> np.ndarray:
    """One layer's neuron indices, checked: whole numbers in 0..width-1, in one dimension."""
    import torch

    try:
        values = torch.as_tensor(neurons)
    except (TypeError, ValueError, RuntimeError):
        values = None
    if (
        values is None
        or values.dtype == torch.bool
        or values.is_floating_point()
        or values.is_complex()
        or values.dim() > 1
    ):
        raise LfeError(
            f"{where}: not a one-dimensional tensor of neuron indices"
            f" ({type(neurons).__name__}{'' if values is None else f' of {values.dtype}'})"
        )
    indices = np.asarray(values.cpu(), dtype=np.int64).reshape(-1)
    if indices.size and (indices.min() < 0 or indices.max() >= width):
        raise LfeError(
            f"{where}: neuron indices outside 0..{width - 1} (the checkpoint has {width})"
        )
    return indices


def _order_file(mask: str | Path) -> dict | None:
    """What lfe wrote beside the mask (its languages, the model's shape), or None if nothing is."""
    order_file = Path(f"{mask}.languages.json")
    if not order_file.is_file():
        return None
    try:
        order = json.loads(order_file.read_text(encoding="utf-8"))
        langs = order["languages"] if isinstance(order, dict) else None
        if not isinstance(langs, list) or not all(isinstance(lang, str) for lang in langs):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise LfeError.naming(
            f'{order_file} is damaged or not lfe\'s (it needs {{"languages": [...]}}): fix it, or'
            " remove it and pass `languages` in the mask's order"
        ) from None
    return order


def _check_made_for(mask: str | Path, into: Regions) -> None:
    """Refuse a mask whose recorded model shape is not the checkpoint's (another model's mask)."""
    order = _order_file(mask) or {}
    made = (order.get("n_layers"), order.get("n_neurons"))
    if None not in made and made != (into.n_layers, into.width):
        raise LfeError(
            f"{mask} was made for {made[0]} layers x {made[1]} neurons (its languages.json), but"
            f" {into.checkpoint} has {into.n_layers} x {into.width}: a mask of another model"
        )


def _mask_languages(mask: str | Path, languages: list[str] | None) -> list[str]:
    if languages:
        return languages
    order = _order_file(mask)
    if order is not None:
        return list(order["languages"])
    raise LfeError.naming(
        f"{mask} holds no language names and {Path(mask).name}.languages.json is not beside it:"
        " pass `languages` in the mask's order (LAPE's scripts use the order of their language"
        " list)"
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
    twice = sorted({store_langs[row] for row in rows if rows.count(row) > 1})
    if twice:
        raise LfeError(
            f"the mask's languages ({', '.join(mask_langs)}) name {listing(twice)} more than once;"
            " give each region its own language"
        )
    return rows
