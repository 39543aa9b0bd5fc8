"""``lfe evolve`` as a library call: every checkpoint of one or more stores, against step or size.

Reuses each checkpoint's stored analysis when it was made with the same parameters and weights
(else analyses it, on a Dask cluster when given one), joins the stored ablation tables made from
those same regions, and writes one table (CSV, JSON, Markdown) and the evolution figures.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from lfe.analysis.evolution import (
    above_chance,
    duplicates,
    layer_center,
    step_from_name,
    trends,
)
from lfe.errors import LfeError, Problem
from lfe.log import logger
from lfe.records import FULL_MODEL, ZSCORE, AnalysisRecord, EvolutionRow, EvolutionSettings
from lfe.report import write_evolution
from lfe.store import ActivationStore
from lfe.workflows.analyze import analyze_on_cluster, analyze_store
from lfe.workflows.paths import beside

if TYPE_CHECKING:
    from distributed import Client


def evolve(
    settings: EvolutionSettings,
    *,
    out: str | Path | None = None,
    steps: dict[str, int] | None = None,
    client: Client | None = None,
    figures: bool = True,
    progress: bool = True,
) -> list[EvolutionRow]:
    """One row per checkpoint (sorted by series, then ``settings.x``); files into ``out``."""
    rows: list[EvolutionRow] = []
    for store in settings.stores:
        names = _analyse_stale(store, settings, client=client, figures=figures, progress=progress)
        opened = ActivationStore.open(store)
        rows += [_row(opened, name, steps or {}, len(settings.stores) > 1) for name in names]
    unknown = sorted(set(steps or {}) - {row.checkpoint for row in rows})
    if unknown:
        sentence = (
            f"names no checkpoint of the stores: {', '.join(unknown)}; they have "
            f"{', '.join(sorted({row.checkpoint for row in rows}))}"
        )
        raise LfeError.of(Problem("steps", sentence))
    _check_axis(rows, settings.x)
    rows.sort(key=lambda row: (row.series, row.x(settings.x), row.checkpoint))
    rows = _flag_duplicates(rows)
    folder = Path(out) if out is not None else beside(settings.stores[0], "evolution")
    write_evolution(rows, settings, trends(rows, settings.x), folder, figures=figures)
    return rows


def _analyse_stale(
    store: str, settings: EvolutionSettings, *, client: Client, figures: bool, progress: bool
) -> list[str]:
    """Analyse the checkpoints of ``store`` whose stored analysis is missing or was made otherwise;
    the complete checkpoints (the others are skipped with a warning)."""
    opened = ActivationStore.open(store)
    names = opened.finished()
    stale = [name for name in names if not _analysis_is_current(opened, name, settings)]
    if not stale:
        return names
    logger.info(
        f"{store}: analysing {len(stale)} of {len(names)} checkpoints (the others are reused)"
    )
    if client is not None:
        analyze_on_cluster(client, store, stale, settings=settings.analysis, figures=figures)
        return names
    for name in stale:  # one at a time: only the records, kept in the store, outlive each
        analyze_store(store, name, settings=settings.analysis, figures=figures, progress=progress)
    return names


def _analysis_is_current(opened: ActivationStore, name: str, settings: EvolutionSettings) -> bool:
    if not opened.has_analysis(name):
        return False
    record, meta = opened.analysis(name), opened.checkpoint(name).meta
    # the same parameters, on rows extracted from the same weights the same way
    return (
        record.params.same_numbers(settings.analysis)
        and record.weights_hash == meta.weights_hash
        and record.checkpoint_settings == meta.settings
    )


def _row(
    opened: ActivationStore, name: str, steps: dict[str, int], several_stores: bool
) -> EvolutionRow:
    meta = opened.checkpoint(name).meta
    record = opened.analysis(name)
    store_name = opened.path.name.removesuffix(".zarr")
    series = meta.series or store_name
    step = steps.get(name, meta.step)
    ablation = opened.ablation(name)
    if ablation is not None and (
        ablation.params.analysis is None or not ablation.params.analysis.same_numbers(record.params)
    ):
        logger.warning(
            f"{opened.path}:{name}: the stored ablation deactivated regions of another analysis "
            f"({ablation.params.analysis.rule if ablation.params.analysis else 'unrecorded'}, now "
            f"{record.params.rule}); it is left out: rerun `lfe ablate` to join it"
        )
        ablation = None
    if ablation is not None and ablation.params.method != ZSCORE:
        logger.warning(
            f"{opened.path}:{name}: the stored ablation deactivated {ablation.params.method}'s"
            " regions; evolve joins the paper's (zscore) ones: rerun `lfe ablate --method zscore`"
            " to join it"
        )
        ablation = None
    whole = record.whole
    row = EvolutionRow(
        store=str(opened.path),
        series=f"{store_name}:{series}" if several_stores else series,
        checkpoint=name,
        step=step if step is not None else step_from_name(name),
        params=meta.n_params,
        weights_hash=meta.weights_hash,
        lrds=whole.lrds,
        sads=whole.sads,
        lrds_low=whole.lrds_low,
        lrds_high=whole.lrds_high,
        sads_low=whole.sads_low,
        sads_high=whole.sads_high,
        sklr=record.sklr,
        sklr_percent=record.sklr_percent,
        key_layer_center=layer_center(list(record.key_neurons_per_layer.values())),
        region_percent=record.region_percent,
        key_neurons_per_layer=record.key_neurons_per_layer,
        languages=record.languages,
        analysis_params=record.params,
        own_region_increase=ablation.own_region_increase() if ablation else None,
        random_twin_increase=ablation.random_twin_increase() if ablation else None,
        choice_accuracy_full=ablation.full_model_choice_accuracy() if ablation else None,
        harness_full=(
            {key: row[FULL_MODEL] for key, row in ablation.harness.items()}
            if ablation and ablation.harness
            else None
        ),
        ablation_params=ablation.params if ablation else None,
    )
    return _with_chance(row, record)


def _with_chance(row: EvolutionRow, record: AnalysisRecord) -> EvolutionRow:
    """``row`` with the chance levels its checkpoint's analysis computed, and each measure above
    its chance level (the nulls are the analysis's own, not computed again)."""
    region_null = record.region_null
    sklr_null = region_null.sklr_percent if region_null else None
    by_language = region_null.region_percent if region_null else {}
    return replace(
        row,
        lrds_null=record.whole.lrds_null,
        sads_null=record.whole.sads_null,
        sklr_null=sklr_null,
        region_null=by_language,
        lrds_above_chance=above_chance(row.lrds, record.whole.lrds_null),
        sads_above_chance=above_chance(row.sads, record.whole.sads_null),
        sklr_above_chance=above_chance(row.sklr_percent, sklr_null),
        region_above_chance={
            lang: float(row.region_percent[lang] - null.mean)
            for lang, null in by_language.items()
            if lang in row.region_percent
        },
    )


def _flag_duplicates(rows: list[EvolutionRow]) -> list[EvolutionRow]:
    """The rows, each with ``duplicate_of`` naming the first earlier row with the same weights."""
    flagged = []
    for row, first in zip(rows, duplicates([row.weights_hash for row in rows])):
        if first is not None:
            row = replace(row, duplicate_of=f"{rows[first].store}:{rows[first].checkpoint}")
            logger.warning(
                f"{row.checkpoint} has the same weights as {row.duplicate_of} (a duplicate"
                " checkpoint)"
            )
        flagged.append(row)
    return flagged


def _check_axis(rows: list[EvolutionRow], x: str) -> None:
    unknown = [row.checkpoint for row in rows if row.x(x) is None]
    if not unknown:
        return
    if x == "step":
        raise LfeError.naming(
            f"cannot tell the training step of {', '.join(unknown)} from its name or files; "
            f"pass `steps` {unknown[0]}=N for each"
        )
    raise LfeError.naming(
        f"the store does not record the parameter count of {', '.join(unknown)} (extracted by an"
        " older lfe); extract them again (`lfe extract --overwrite`), or use `x` step"
    )
