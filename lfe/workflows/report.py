"""``lfe report`` as a library call: every report and figure of a store's checkpoints written again
from what the store keeps (the analysis record and arrays, the last ablation and steering tables
with their continuations), on any machine, after ``lfe import``, or after an lfe upgrade changed the
reports.

Nothing is computed again: the files equal what ``lfe analyze``, ``lfe ablate`` and ``lfe steer``
wrote from the same records, and the analysis report ends with the causal tests where both were made
from the regions of this very analysis (as ``lfe demo`` writes it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lfe.analysis.metrics import label_grid
from lfe.errors import StoreError
from lfe.records import AnalysisRecord
from lfe.report import append_causal_section, write_ablation, write_analysis, write_steering
from lfe.store import ActivationStore
from lfe.workflows.paths import beside

KINDS = ("analysis", "ablation", "steer")  # the folders written, as the commands name them


@dataclass(frozen=True)
class Rebuilt:
    """The folders written again for one checkpoint (None: the store keeps no such record)."""

    checkpoint: str
    analysis: Path | None
    ablation: Path | None
    steer: Path | None


def rebuild_reports(
    store: str | Path,
    checkpoint: str | list[str] = "all",
    *,
    out: str | Path | None = None,
    figures: bool = True,
) -> list[Rebuilt]:
    """Write every report the store can give for ``checkpoint`` ("all", a name, or a list) into
    ``out``/analysis|ablation|steer/<checkpoint> (default: beside the store, as each command writes
    them)."""
    opened = ActivationStore.open(store)
    names = opened.selected(checkpoint)
    for name in names:
        # an unknown name is an error naming the store's checkpoints
        opened.checkpoint(name, verify=False)
    roots = {kind: Path(out) / kind if out is not None else beside(store, kind) for kind in KINDS}
    # the store row of each (language, sid): one grid for every checkpoint's similarity map
    langs, _, grid = label_grid(*opened.labels())
    rebuilt = [_rebuild(opened, name, roots, (langs, grid), figures) for name in names]
    if not any(row.analysis or row.ablation or row.steer for row in rebuilt):
        raise StoreError(
            f"{opened.path} keeps no analysis of {', '.join(names)}; run `lfe analyze"
            f" {opened.path}` first"
        )
    return rebuilt


def _rebuild(
    opened: ActivationStore,
    name: str,
    roots: dict[str, Path],
    labelled: tuple[list[str], np.ndarray],
    figures: bool,
) -> Rebuilt:
    record, arrays = (
        opened.analysis_with_arrays(name) if opened.has_analysis(name) else (None, None)
    )
    ablation, steering = opened.ablation(name), opened.steering(name)
    folders = {kind: roots[kind] / name for kind in KINDS}
    if record is not None and arrays is not None:
        write_analysis(
            record,
            arrays,
            folders["analysis"],
            grid=_in_analysis_order(*labelled, record),
            figures=figures,
        )
    if ablation is not None:
        write_ablation(ablation, opened.ablation_generations(name), folders["ablation"])
    if steering is not None:
        write_steering(steering, opened.steering_texts(name), folders["steer"])
    if (
        record is not None
        and ablation is not None
        and steering is not None
        and all(
            made.analysis is not None and made.analysis.same_numbers(record.params)
            for made in (ablation.params, steering.params)
        )
    ):
        append_causal_section(
            folders["analysis"] / "report.md",
            ablation,
            steering,
            folders["ablation"],
            folders["steer"],
        )
    return Rebuilt(
        name,
        folders["analysis"] if record else None,
        folders["ablation"] if ablation else None,
        folders["steer"] if steering else None,
    )


def _in_analysis_order(langs: list[str], grid: np.ndarray, record: AnalysisRecord) -> np.ndarray:
    """``grid``'s rows (languages ``langs``) in the order of the analysis's languages."""
    return grid[[langs.index(lang) for lang in record.languages]]
