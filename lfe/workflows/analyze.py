"""``lfe analyze`` as a library call: store in, records into the store and a folder of files out."""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from lfe.analysis import analyze
from lfe.errors import PanelReadError, StoreError
from lfe.records import LAPE, AnalysisRecord, AnalysisSettings, RandomWeights
from lfe.report import write_analysis
from lfe.store import ActivationStore, Checkpoint
from lfe.store.results import ANALYSIS
from lfe.workflows.paths import beside, writable_store

if TYPE_CHECKING:
    from typing import Any

    from distributed import Client

    from lfe.analysis.checkpoint import AnalysisResult
    from lfe.analysis.streaming import PanelMath


def analyze_store(
    store: str | Path,
    checkpoint: str | list[str] = "all",
    *,
    settings: AnalysisSettings = AnalysisSettings(),
    out: str | Path | None = None,
    figures: bool = True,
    progress: bool = True,
    device: str = "cpu",
) -> dict[str, AnalysisRecord]:
    """Analyse checkpoints of ``store`` (a name, a list, or ``"all"``); write results to the store
    and to ``out``.

    Each panel's arithmetic: numpy's with torch's float16 conversion on the CPU (``CpuPanels``),
    else torch on ``device`` (``TorchPanels``); the only place analysis touches torch.
    """
    folder = Path(out) if out is not None else beside(store, "analysis")
    kept = writable_store(store, "analysis", folder)
    opened = kept or ActivationStore.open(store)
    from lfe.kernels.panels import CpuPanels, TorchPanels

    panels_math: PanelMath = CpuPanels() if device == "cpu" else TorchPanels(device)
    records = {}
    # random-weights controls first, so each trained checkpoint's report can show its control
    for name in sorted(opened.finished(checkpoint), key=lambda name: not _is_control(opened, name)):
        data = opened.checkpoint(name)
        result = _analysis(opened, data, settings, progress, panels_math)
        meta = data.meta
        record = replace(
            result.record(),
            checkpoint=name,
            corpus_fingerprint=opened.corpus.fingerprint,
            weights_hash=meta.weights_hash,
            source=meta.source,
            family=meta.family,
            store_dtype=meta.store_dtype,
            pooling=meta.pooling,
            checkpoint_settings=meta.settings,
            random_weights=_control_of(opened, name, settings),
        )
        arrays = result.arrays()
        # the store's record and the report folder from the same analysis, if two run at once
        with kept.writing(ANALYSIS) if kept is not None else nullcontext():
            if kept is not None:
                kept.write_analysis(name, record, arrays)
            write_analysis(record, arrays, folder / name, grid=result.grid, figures=figures)
        records[name] = record
    return records


def _analysis(
    opened: ActivationStore,
    data: Checkpoint,
    settings: AnalysisSettings,
    progress: bool,
    panels_math: PanelMath | None,
) -> AnalysisResult:
    """One complete checkpoint's ``AnalysisResult``, with the peers' methods if ``settings`` asks
    for them."""
    name, store = data.name, opened.path
    if LAPE in settings.peers.methods and data.positive is None:
        raise StoreError(
            f"checkpoint {name!r} has no positive counts, which LAPE needs: extract it with "
            "`lfe extract ... --stats mean,positive`, or leave lape out of --method"
        )
    langs, sids = opened.labels()
    try:
        result = analyze(
            data.as_dask(),
            langs,
            sids,
            data.n_layers,
            data.n_neurons,
            settings=settings,
            positive=data.as_dask("positive") if LAPE in settings.peers.methods else None,
            n_tokens=data.n_tokens if LAPE in settings.peers.methods else None,
            progress=progress,
            norms=data.norms[:],
            panels_math=panels_math,
        )
    except PanelReadError as error:
        raise StoreError(
            f"checkpoint {name!r} of {store} is damaged: {error}; run `lfe check --repair {store}`,"
            " then the same `lfe extract` command"
        ) from None
    return result


def analyze_on_cluster(
    client: Client, store: str | Path, checkpoint: str | list[str] = "all", **options: Any
) -> dict[str, AnalysisRecord]:
    """``analyze_store`` with one task per checkpoint on a Dask cluster; each checkpoint's record.

    Random-weights controls run first, as in one process, so that each trained checkpoint finds its
    control's analysis. Only the records come back to this process, so its memory does not grow with
    the checkpoints. A read-only store is analysed into the output folder only, as ``analyze_store``
    does.
    """
    from distributed import as_completed

    writable = os.access(store, os.W_OK)
    opened = ActivationStore.open(store, mode="r+" if writable else "r")
    names = opened.finished(checkpoint)
    if writable:
        opened.prepare_records()  # the analysis group is created once here, not raced by the tasks
    options = {**options, "progress": False}
    controls = [name for name in names if _is_control(opened, name)]
    records = {}
    for wave in (controls, [name for name in names if name not in controls]):
        futures = [
            client.submit(_analyze_one, str(store), name, options, pure=False) for name in wave
        ]
        for future in as_completed(futures):
            name, record = future.result()
            records[name] = record
    return {name: records[name] for name in names}


def _is_control(opened: ActivationStore, name: str) -> bool:
    source = opened.checkpoint(name).meta.source
    return source is not None and source.random_init is not None


def _control_of(
    opened: ActivationStore, name: str, settings: AnalysisSettings
) -> RandomWeights | None:
    """The analysed random-weights control of checkpoint ``name`` in the same store, if there is a
    current one."""
    source = opened.checkpoint(name).meta.source
    if source is None or source.random_init is not None:
        return None
    for other in opened.checkpoint_names():
        meta = opened.checkpoint(other).meta
        if (
            meta.source is None
            or meta.source.random_init is None
            or replace(meta.source, random_init=None) != source
            or not opened.has_analysis(other)
        ):
            continue
        record = opened.analysis(other)
        if record.params.same_numbers(settings) and record.weights_hash == meta.weights_hash:
            return RandomWeights(
                other,
                meta.source.random_init,
                record.whole,
                record.sklr_percent,
                record.region_percent,
            )
    return None


def _analyze_one(store: str, name: str, options: dict) -> tuple[str, AnalysisRecord]:
    [record] = analyze_store(store, name, **options).values()
    return name, record
