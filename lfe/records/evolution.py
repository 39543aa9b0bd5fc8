"""One row of ``lfe evolve``'s table: a checkpoint's numbers beside its step and size."""

from __future__ import annotations

from dataclasses import dataclass

from lfe.errors import Problem
from lfe.records.ablation import AblationSettings
from lfe.records.analysis import AnalysisSettings
from lfe.records.base import Record, not_one_of, refuse

AXES = ("step", "params")  # what a row can be plotted against


@dataclass(frozen=True)
class EvolutionSettings(Record):
    """What ``lfe evolve`` was asked: the stores, the x axis, and the analysis of every
    checkpoint."""

    stores: tuple[str, ...]
    x: str = "step"
    analysis: AnalysisSettings = AnalysisSettings()

    def __post_init__(self):
        refuse(
            not_one_of("x", self.x, AXES)
            + ([] if self.stores else [Problem("stores", "names none: pass at least one store")])
        )


@dataclass(frozen=True)
class EvolutionRow(Record):
    store: str
    series: str
    checkpoint: str
    step: int | None
    params: int | None  # parameter count
    weights_hash: str | None
    lrds: float
    sads: float
    lrds_low: float | None
    lrds_high: float | None
    sads_low: float | None
    sads_high: float | None
    sklr: int
    sklr_percent: float
    key_layer_center: float  # NaN: no key neurons at all
    region_percent: dict[str, float]
    key_neurons_per_layer: dict[str, list[int]]
    languages: tuple[str, ...]
    analysis_params: AnalysisSettings
    own_region_increase: float | None = None
    random_twin_increase: float | None = None
    choice_accuracy_full: float | None = None
    # the intact model's lm-evaluation-harness scores ("task metric")
    harness_full: dict[str, float] | None = None
    ablation_params: AblationSettings | None = None
    duplicate_of: str | None = None

    # evolution.csv: these columns, then one region_percent_<lang> per language
    CSV_COLUMNS = (
        "series",
        "checkpoint",
        "step",
        "params",
        "lrds",
        "lrds_low",
        "lrds_high",
        "sads",
        "sads_low",
        "sads_high",
        "sklr",
        "sklr_percent",
        "key_layer_center",
        "own_region_increase",
        "random_twin_increase",
        "choice_accuracy_full",
        "duplicate_of",
        "weights_hash",
    )

    def x(self, axis: str) -> int | None:
        """The row's position on ``axis`` ("step" or "params")."""
        return getattr(self, axis)


@dataclass(frozen=True)
class SeriesTrend(Record):
    """Spearman's rank correlation of each measure of one series' rows with the x axis (+1: rises
    throughout, -1: falls throughout; NaN with fewer than two distinct values)."""

    lrds: float
    sads: float
    sklr_percent: float
    key_layer_center: float
