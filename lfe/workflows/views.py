"""Labelled views of a store for the Python API: ``lfe.open`` (an xarray Dataset, lazy through Dask)
and ``lfe.tables`` (its results as pandas DataFrames).

xarray and pandas are optional (``pip install 'lfe[xarray]'``): nothing else in lfe needs them, and
without them these two calls end in a one-line error naming the extra.
"""

from __future__ import annotations

import importlib
import json
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lfe.errors import LfeError, listing
from lfe.records import METHODS, Alignment, AnalysisArrays
from lfe.store import ActivationStore, Checkpoint
from lfe.store.guarded import GuardedArray, damage_named
from lfe.store.schema import DIMENSIONS
from lfe.workflows.formats import Regions
from lfe.workflows.formats.table import COLUMNS, table_rows

if TYPE_CHECKING:
    import dask.array as da
    import xarray as xr

EXTRA = "pip install 'lfe[xarray]'"
PER_LAYER = "layer_index"  # the dimension of per-layer results ("layer" labels each neuron's layer)


def optional(module: str) -> Any:
    """``module`` imported, or a one-line error naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise LfeError(f"this needs {module}, an optional dependency of lfe: {EXTRA}") from None


def open_store(path: str | Path, checkpoints: str | list[str] | None = None) -> xr.Dataset:
    """The store as an ``xarray.Dataset``: ``pooled[checkpoint, sample, neuron]`` and each analysis,
    labelled.

    Coordinates: ``lang`` and ``sid`` of each sample, ``layer`` and ``neuron_in_layer`` of each
    neuron (a MultiIndex: ``ds.pooled.sel(layer=3)``), ``step`` of each checkpoint and whether it
    was ``analysed``. Activations are Dask arrays read on demand; results of checkpoints never
    analysed are NaN (False for regions). ``attrs`` hold every checkpoint's metadata and every
    analysis's parameters, as JSON.
    """
    xr, pd = optional("xarray"), optional("pandas")
    import dask.array as da

    store = ActivationStore.open(path)
    names = _chosen(store, checkpoints)
    opened = [store.checkpoint(name) for name in names]
    shapes = sorted({(checkpoint.n_layers, checkpoint.n_neurons) for checkpoint in opened})
    if len(shapes) > 1:
        raise LfeError(
            f"the checkpoints of {path} differ in shape (layers x neurons: {listing(shapes)}); open"
            " those of one shape: lfe.open(path, checkpoints=[...])"
        )
    n_layers, n_neurons = shapes[0]
    langs, sids = store.labels()
    records = {name: store.analysis(name) for name in names if store.has_analysis(name)}
    neurons = pd.MultiIndex.from_arrays(
        [np.repeat(np.arange(n_layers), n_neurons), np.tile(np.arange(n_neurons), n_layers)],
        names=["layer", "neuron_in_layer"],
    )
    coords = xr.Coordinates.from_pandas_multiindex(neurons, "neuron").assign(
        checkpoint=names,
        sample=np.arange(len(langs)),
        lang=("sample", langs.astype(str)),
        sid=("sample", sids.astype(str)),
        step=("checkpoint", [np.nan if c.meta.step is None else c.meta.step for c in opened]),
        analysed=("checkpoint", [name in records for name in names]),
        **{PER_LAYER: np.arange(n_layers)},
    )
    data = {
        "pooled": (
            ("checkpoint", "sample", "neuron"),
            da.stack([_rows(store, checkpoint, "pooled") for checkpoint in opened]),
        ),
        "norms": (
            ("checkpoint", "sample"),
            da.stack([_rows(store, checkpoint, "norms") for checkpoint in opened]),
        ),
        "n_tokens": (
            ("checkpoint", "sample"),
            np.stack([checkpoint.n_tokens for checkpoint in opened]),
        ),
    }
    languages = {record.languages for record in records.values()}
    if len(languages) > 1:
        raise LfeError(
            f"the analyses of {path} cover different languages; open one checkpoint at a time"
        )
    if records:
        coords = coords.assign(language=list(next(iter(languages))))
        data.update(_analysis_arrays(store, names, records))
        data.update(_alignments(names, records, n_layers))
    attrs = {
        "store": str(path),
        "corpus": json.dumps(store.corpus.to_dict()),
        "checkpoints": json.dumps({c.name: c.meta.to_dict() for c in opened}),
        "analysis_params": json.dumps(
            {name: record.params.to_dict() for name, record in records.items()}
        ),
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _chosen(store: ActivationStore, checkpoints: str | list[str] | None) -> list[str]:
    """The complete checkpoints ``checkpoints`` names (None: all; one being extracted is left
    out)."""
    every = store.checkpoint_names()
    chosen = (
        every
        if checkpoints is None
        else [checkpoints]
        if isinstance(checkpoints, str)
        else list(checkpoints)
    )
    unknown = [name for name in chosen if name not in every]
    if unknown or not chosen:
        raise LfeError(
            f"{store.path} has no checkpoint {listing(unknown) or '(none chosen)'}; it has "
            f"{listing(every) or 'none: run `lfe extract`'}"
        )
    return store.finished("all" if checkpoints is None else chosen)


def _rows(store: ActivationStore, checkpoint: Checkpoint, key: str) -> da.Array:
    """The checkpoint's ``key`` array (pooled, norms), lazily; a damaged chunk, once read, is one
    ``StoreError`` naming the repair."""
    from dask.base import tokenize

    guard = partial(
        damage_named,
        f"checkpoint {checkpoint.name!r} of {store.path}",
        f"run `lfe check --repair {store.path}`, then the same `lfe extract` command",
    )
    array = GuardedArray(getattr(checkpoint, key), guard)
    return array.as_dask(f"{key}-{tokenize(str(store.path), checkpoint.name)}")


def _analysis_arrays(store: ActivationStore, names: list[str], records: dict) -> dict:
    """Each analysis array stacked over the checkpoints, a filler where one has none (NaN, or
    False)."""
    import dask.array as da
    from dask.base import tokenize

    lazy = {name: store.lazy_analysis_arrays(name) for name in records}
    variables = {}
    for key in AnalysisArrays.__dataclass_fields__:
        present = [arrays[key] for arrays in lazy.values() if key in arrays]
        if not present:  # a method no analysis ran
            continue
        is_mask = present[0].dtype == np.dtype(bool)
        # counts too: NaN fills
        dtype = np.dtype(bool) if is_mask else np.result_type(present[0].dtype, np.float32)
        filler = da.full(present[0].shape, False if is_mask else np.nan, dtype=dtype)
        stacked = da.stack(
            [
                lazy[name][key].as_dask(f"{key}-{tokenize(str(store.path), name)}").astype(dtype)
                if key in lazy.get(name, {})
                else filler
                for name in names
            ]
        )
        dims = tuple(PER_LAYER if dim == "layer" else dim for dim in DIMENSIONS[key])
        variables[key] = (("checkpoint", *dims), stacked)
    return variables


def _alignments(names: list[str], records: dict, n_layers: int) -> dict:
    """LRDS and SADS (with their intervals) of the whole model [checkpoint] and of each layer
    [checkpoint, layer]."""
    variables: dict[str, tuple] = {}
    for column in Alignment.COLUMNS:
        whole = [
            _number(getattr(records[name].whole, column)) if name in records else np.nan
            for name in names
        ]
        per_layer = [
            (
                [_number(getattr(layer, column)) for layer in records[name].layers]
                if name in records
                else [np.nan] * n_layers
            )
            for name in names
        ]
        variables[column] = (("checkpoint",), np.array(whole, dtype=float))
        variables[f"{column}_per_layer"] = (
            ("checkpoint", PER_LAYER),
            np.array(per_layer, dtype=float),
        )
    variables["sklr"] = (
        ("checkpoint",),
        np.array(
            [records[name].sklr if name in records else np.nan for name in names], dtype=float
        ),
    )
    return variables


def _columns(alignment: Alignment) -> dict[str, float]:
    return {column: _number(getattr(alignment, column)) for column in Alignment.COLUMNS}


def _number(value: float | None) -> float:
    return np.nan if value is None else float(value)


def result_tables(path: str | Path) -> dict[str, Any]:
    """Every analysis of the store as pandas DataFrames: ``whole`` (a row per checkpoint),
    ``layers`` (per checkpoint and layer), ``key_neurons`` (per checkpoint, language and layer) and
    ``regions`` (a row per neuron in a region, each method's, with its score), each with the
    analysis's threshold and seed."""
    pd = optional("pandas")
    store = ActivationStore.open(path)
    parameters = ("checkpoint", "threshold", "top_percent", "seed")
    # the columns of each table, so that a store without analyses gives empty tables with them
    columns = {
        "whole": [*parameters, *Alignment.COLUMNS, "sklr", "sklr_percent"],
        "layers": [*parameters, "layer", *Alignment.COLUMNS],
        "key_neurons": [*parameters, "language", "layer", "key_neurons"],
        "regions": [*parameters, *COLUMNS],
    }
    tables: dict[str, list] = {key: [] for key in columns}
    for name in store.checkpoint_names():
        if not store.has_analysis(name):
            continue
        record, arrays = store.analysis_with_arrays(name)
        params = dict(
            zip(
                parameters,
                (name, record.params.threshold, record.params.top_percent, record.params.seed),
            )
        )
        tables["whole"].append(
            {
                **params,
                **_columns(record.whole),
                "sklr": record.sklr,
                "sklr_percent": record.sklr_percent,
            }
        )
        tables["layers"] += [
            {**params, "layer": layer, **_columns(alignment)}
            for layer, alignment in enumerate(record.layers)
        ]
        tables["key_neurons"] += [
            {**params, "language": lang, "layer": layer, "key_neurons": count}
            for lang, counts in record.key_neurons_per_layer.items()
            for layer, count in enumerate(counts)
        ]
        for method in METHODS:
            if getattr(arrays, AnalysisArrays.METHOD_FIELDS[method][1]) is not None:
                regions = Regions.of(record, arrays, method, len(record.layers))
                tables["regions"] += [
                    {**params, **dict(zip(COLUMNS, row))} for row in table_rows(regions)
                ]
    return {key: pd.DataFrame(rows, columns=columns[key]) for key, rows in tables.items()}
