"""One row of ``lfe evolve``'s table: a checkpoint's numbers beside its step and size."""

from __future__ import annotations

from dataclasses import dataclass, field

from lfe.errors import Problem
from lfe.records.ablation import AblationSettings
from lfe.records.analysis import AnalysisSettings, NullSummary
from lfe.records.base import Record, not_one_of, refuse

AXES = ("step", "params")  # what a row can be plotted against


@dataclass(frozen=True)
class EvolutionSettings(Record):
    """What ``lfe evolve`` was asked: the stores, the x axis, and the analysis of every
    checkpoint."""

    stores: tuple[str, ...]
    x: str = "step"
    analysis: AnalysisSettings = AnalysisSettings()

    def __post_init__(self) -> None:
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
    # chance levels from the checkpoint's analysis (None, {}: analysed without a null), and each
    # measure above its chance level: the observed value minus the null's mean
    lrds_null: NullSummary | None = None
    sads_null: NullSummary | None = None
    sklr_null: NullSummary | None = None
    region_null: dict[str, NullSummary] = field(default_factory=dict)
    lrds_above_chance: float | None = None
    sads_above_chance: float | None = None
    sklr_above_chance: float | None = None
    region_above_chance: dict[str, float] = field(default_factory=dict)

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
        "lrds_null_mean",
        "lrds_null_p95",
        "lrds_p",
        "lrds_above_chance",
        "sads_null_mean",
        "sads_null_p95",
        "sads_p",
        "sads_above_chance",
        "sklr",
        "sklr_percent",
        "sklr_null_mean",
        "sklr_null_p95",
        "sklr_p",
        "sklr_above_chance",
        "key_layer_center",
        "own_region_increase",
        "random_twin_increase",
        "choice_accuracy_full",
        "duplicate_of",
        "weights_hash",
    )

    # the measures that have a null, by the name of their column
    NULLS = {"lrds": "lrds_null", "sads": "sads_null", "sklr": "sklr_null"}

    def x(self, axis: str) -> int | None:
        """The row's position on ``axis`` ("step" or "params")."""
        return getattr(self, axis)

    def column(self, name: str) -> object:
        """One value of evolution.csv: a field, or a part of a null ("lrds_null_p95", "sklr_p")."""
        for measure, null_field in self.NULLS.items():
            null = getattr(self, null_field)
            for part, attribute in (
                ("_null_mean", "mean"),
                ("_null_p95", "p95"),
                ("_p", "p_value"),
            ):
                if name == measure + part:
                    return None if null is None else getattr(null, attribute)
        return getattr(self, name)


@dataclass(frozen=True)
class SeriesTrend(Record):
    """Spearman's rank correlation of each measure of one series' rows with the x axis (+1: rises
    throughout, -1: falls throughout; NaN with fewer than two distinct values)."""

    lrds: float
    sads: float
    sklr_percent: float
    key_layer_center: float
    # the same of each measure minus its chance level (NaN: analysed without a null)
    lrds_above_chance: float = float("nan")
    sads_above_chance: float = float("nan")
    sklr_above_chance: float = float("nan")
