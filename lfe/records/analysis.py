"""What ``lfe analyze`` records per checkpoint: its settings, its numbers, its arrays."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from lfe.errors import AnalysisError, Problem
from lfe.records.base import Record, negative, not_positive, refuse
from lfe.records.extraction import ExtractSettings, ModelSource
from lfe.records.methods import AP, LAPE, ZSCORE, PeerSettings

# fewer resamples give a "95% interval" of a handful of points, which may miss the estimate
MIN_BOOTSTRAP = 10


@dataclass(frozen=True)
class AnalysisSettings(Record):
    """Every parameter that changes an analysis number; ``threshold`` is None when regions are a top
    percent."""

    threshold: float | None = 2.0
    top_percent: float | None = None
    n_boot: int = 200
    seed: int = 0
    # label shuffles for each layer's and the regions' nulls; the whole model's LRDS/SADS: 10x; 0:
    # none
    null: int = 100
    null_neurons: int = 8192  # a seeded sample of neurons on which the regions' null is estimated
    interval: float = 0.95
    zscore_std: str = "population"
    normalisation: str = "L2 over all layers (paper eq. 6)"
    # what computed the panels (numpy, torch-cuda): recorded, not compared
    arithmetic: str = "numpy"
    peers: PeerSettings = PeerSettings()  # the peers' methods run beside the z-scores

    def __post_init__(self) -> None:
        problems = negative(seed=self.seed, null=self.null) + not_positive(
            null_neurons=self.null_neurons
        )
        if self.top_percent is not None:
            if not 0 < self.top_percent <= 100:
                problems.append(
                    Problem("top_percent", f"must be in (0, 100], got {self.top_percent}")
                )
            object.__setattr__(self, "threshold", None)  # as recorded: the percent alone decides
        elif self.threshold is None or not math.isfinite(self.threshold):
            problems.append(Problem("threshold", f"must be a finite number, got {self.threshold}"))
        if self.n_boot < 0 or 0 < self.n_boot < MIN_BOOTSTRAP:
            sentence = (
                f"must be 0 (no interval) or at least {MIN_BOOTSTRAP} resamples for a 95% interval,"
                f" got {self.n_boot}"
            )
            problems.append(Problem("n_boot", sentence))
        refuse(problems)

    @classmethod
    def from_dict(cls, data: dict) -> "AnalysisSettings":
        # an analysis recorded before nulls existed had none: it must not pass for one with the
        # default null
        return super().from_dict({"null": 0, **data})

    @property
    def whole_null(self) -> int:
        """Shuffles of the whole model's LRDS and SADS nulls: ten times ``null`` (re-indexing the
        map is cheap)."""
        return 10 * self.null

    @property
    def rule(self) -> str:
        """The key-region rule in words: "z > 2.0" or "top 5.0%"."""
        return (
            f"top {self.top_percent}%" if self.top_percent is not None else f"z > {self.threshold}"
        )

    def same_numbers(self, other: "AnalysisSettings") -> bool:
        """Whether ``other`` gives the same paper's numbers (the arithmetic and the peer methods
        aside)."""
        return replace(self, arithmetic="", peers=PeerSettings()) == replace(
            other, arithmetic="", peers=PeerSettings()
        )


@dataclass(frozen=True)
class NullSummary(Record):
    """A measure's chance level: its permutation null's mean and 95th percentile, and the one-sided
    p-value of the observed value, (1 + #{null >= observed}) / (1 + permutations)."""

    mean: float
    p95: float
    p_value: float
    permutations: int
    shuffled: str  # what the permutations shuffle


@dataclass(frozen=True)
class RegionNull(Record):
    """The chance level of the key regions: the share of neurons key for each language (and all of
    them, SKLR) with language labels permuted within each sid, estimated on a seeded sample of
    neurons."""

    sklr_percent: NullSummary
    region_percent: dict[str, NullSummary]
    neurons_sampled: int
    # per layer: key neurons of all languages, as a percent of the layer's (summed over languages,
    # as SKLR is)
    layer_percent: tuple[NullSummary, ...] = ()


@dataclass(frozen=True)
class Alignment(Record):
    """LRDS and SADS of one similarity map, with their bootstrap interval (None without a bootstrap)
    and their permutation nulls (None without a null)."""

    lrds: float
    sads: float
    lrds_low: float | None = None
    lrds_high: float | None = None
    sads_low: float | None = None
    sads_high: float | None = None
    lrds_null: NullSummary | None = None
    sads_null: NullSummary | None = None

    # the order of layers.csv
    COLUMNS = ("lrds", "sads", "lrds_low", "lrds_high", "sads_low", "sads_high")

    @property
    def has_intervals(self) -> bool:
        return self.lrds_low is not None

    def interval(self, measure: str) -> tuple[float, float] | None:
        """(low, high) of ``measure`` ("lrds" or "sads"), or None."""
        low, high = getattr(self, f"{measure}_low"), getattr(self, f"{measure}_high")
        return None if low is None else (low, high)

    def interval_text(self, measure: str, digits: int = 4) -> str:
        """``[0.1000, 0.1500]``, or "" without a bootstrap."""
        interval = self.interval(measure)
        return "" if interval is None else f"[{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"

    def summary(self, digits: int = 4) -> str:
        """``LRDS 0.1234 [0.1000, 0.1500] (chance 0.0100), SADS ...`` (intervals and nulls where
        computed)."""

        def one(measure: str) -> str:
            null = getattr(self, f"{measure}_null")
            chance = "" if null is None else f" (chance {null.p95:.{digits}f})"
            value = (
                f"{measure.upper()} {getattr(self, measure):.{digits}f}"
                f" {self.interval_text(measure, digits)}"
            )
            return value.rstrip() + chance

        return ", ".join(one(measure) for measure in ("lrds", "sads"))


@dataclass(frozen=True)
class MethodRegions(Record):
    """One peer method's regions on a checkpoint, and how language-specific they are against
    shuffled labels."""

    method: str
    region_sizes: dict[str, int]
    region_percent: dict[str, float]
    key_neurons_per_layer: dict[str, list[int]]
    selectivity: dict[str, float]  # per language (NaN: no neurons)
    selectivity_null: dict[str, NullSummary]  # empty without shuffles
    measure: str  # what selectivity is, in words
    neurons_sampled: int | None = None  # the null's neuron sample, where it is estimated on one
    # where regions made elsewhere came from (`lfe import`); None: computed by lfe
    source: str | None = None


@dataclass(frozen=True)
class Agreement(Record):
    """Jaccard index of two methods' regions per language, and its chance level: the expected
    Jaccard of random sets of the same sizes, (ab/N) / (a + b - ab/N)."""

    jaccard: dict[str, dict[str, float]]  # "zscore-lape" -> language -> J
    chance: dict[str, dict[str, float]]


@dataclass(frozen=True)
class RandomWeights(Record):
    """The random-weights control of an analysis: the same architecture, tokenizer, corpus and
    analysis settings, with seeded random weights (``lfe extract --random-init``): what training did
    not make."""

    checkpoint: str
    seed: int
    whole: Alignment
    sklr_percent: float
    region_percent: dict[str, float]


@dataclass(frozen=True)
class AnalysisRecord(Record):
    """One checkpoint's analysis numbers, with the parameters and the inputs that produced them."""

    params: AnalysisSettings
    languages: tuple[str, ...]
    n_sids: int
    whole: Alignment
    layers: tuple[Alignment, ...]
    sklr: int
    sklr_percent: float
    region_sizes: dict[str, int]
    region_percent: dict[str, float]
    key_neurons_per_layer: dict[str, list[int]]
    overlap: list[list[int]]
    n_layers: int | None = None
    n_neurons: int | None = None
    region_null: RegionNull | None = None
    random_weights: RandomWeights | None = None
    checkpoint: str = ""
    # how the analysed rows were extracted (None: not recorded)
    checkpoint_settings: ExtractSettings | None = None
    corpus_fingerprint: str = ""
    weights_hash: str | None = None
    source: ModelSource | None = None  # where the analysed model came from (None: not recorded)
    family: str | None = None
    store_dtype: str | None = None
    pooling: str | None = None
    # the peers' regions (PeerSettings.methods)
    methods: dict[str, MethodRegions] = field(default_factory=dict)
    agreement: Agreement | None = None  # between every two methods' regions, when peers ran


@dataclass(frozen=True)
class AnalysisArrays(Record):
    """The arrays of one checkpoint's analysis (numpy), kept in the store beside its record."""

    similarity: Any  # [n, n] float32 whole-model cosine similarity, rows in store order
    zscores: Any  # [L, layers x neurons] float32
    regions: Any  # [L, layers x neurons] bool: the key regions
    key_neurons_per_layer: Any  # [L, layers] int
    lape_probability: Any = None  # [L, layers x neurons] float32: LAPE's activation probability
    lape_regions: Any = None  # [L, layers x neurons] bool
    # [L, layers x neurons] float32: average precision as a detector of each language
    ap_scores: Any = None
    ap_regions: Any = None  # [L, layers x neurons] bool

    # each method's (scores, regions) fields: the z-scores, LAPE's activation probability, AP
    METHOD_FIELDS = {
        ZSCORE: ("zscores", "regions"),
        LAPE: ("lape_probability", "lape_regions"),
        AP: ("ap_scores", "ap_regions"),
    }

    def regions_of(self, method: str) -> Any:
        """The [L, layers x neurons] regions ``method`` chose ("zscore": the paper's)."""
        return self._method_field(method, 1)

    def scores_of(self, method: str) -> Any:
        """The [L, layers x neurons] scores ``method`` chose its regions by."""
        return self._method_field(method, 0)

    def _method_field(self, method: str, which: int) -> Any:
        value = getattr(self, self.METHOD_FIELDS[method][which])
        if value is None:
            raise AnalysisError(
                f"this analysis has no {method} regions: run `lfe analyze --method {method}` on the"
                " store"
            )
        return value
