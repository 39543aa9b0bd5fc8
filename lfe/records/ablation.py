"""What ``lfe ablate`` records: its settings and the table of perplexities (and choice
accuracies)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lfe.errors import Problem
from lfe.records.analysis import AnalysisSettings
from lfe.records.base import Record, negative, not_one_of, not_positive, refuse
from lfe.records.extraction import MODEL_DTYPES, backend_problems, device_problems
from lfe.records.methods import METHODS, ZSCORE

FULL_MODEL = "full model"  # the column of the intact model, in every table


@dataclass(frozen=True)
class AblationSettings(Record):
    """Every parameter of a deactivation experiment besides the model and the store."""

    regions: tuple[str, ...] = ("all",)  # ("all",) or the languages whose regions are deactivated
    # whose regions: the paper's z-scores, LAPE's or AP's (``lfe analyze --method``)
    method: str = ZSCORE
    random: str = "matched"  # matched, layer-matched, largest or "P%"
    seed: int = 0
    window: int | None = None  # None: the model's context, at most 1024
    stride: int | None = None
    dtype: str = "float32"
    device: str = "cpu"
    evaluation: str = ""
    choice: str | None = None
    generate: str | None = None
    max_new_tokens: int = 32
    analysis: AnalysisSettings | None = None  # the analysis whose regions were deactivated
    lm_eval: tuple[str, ...] = ()  # lm-evaluation-harness tasks run with every mask live
    lm_eval_limit: int | None = None  # at most this many documents of each task (None: all)
    lm_eval_include: str | None = None  # a folder of the user's own harness task YAMLs
    # the harness's metadata, handed to every task (lfe's XStoryCloze tasks: "dataset_path")
    lm_eval_metadata: dict[str, str] = field(default_factory=dict)
    # BACKENDS: the engine the model runs on; a record without one ran on transformers
    backend: str = "hf"
    tensor_parallel: int = 1  # GPUs one vLLM model is split over

    def __post_init__(self) -> None:
        refuse(
            device_problems(self.device)
            + not_positive(
                window=self.window,
                stride=self.stride,
                max_new_tokens=self.max_new_tokens,
                lm_eval_limit=self.lm_eval_limit,
                tensor_parallel=self.tensor_parallel,
            )
            + not_one_of("dtype", self.dtype, MODEL_DTYPES)
            + not_one_of("method", self.method, METHODS)
            + negative(seed=self.seed)
            + backend_problems(self.backend, self.tensor_parallel)
            + (
                [Problem("lm_eval", "runs the harness's own transformers model: use `backend` hf")]
                if self.lm_eval and self.backend != "hf"
                else []
            )
            + ([] if self.regions else [Problem("regions", "names no language")])
        )

    @classmethod
    def from_dict(cls, data: dict) -> "AblationSettings":
        if isinstance(data.get("regions"), str):  # before it was a tuple it was "all" or "en,fr"
            data = {
                **data,
                "regions": tuple(
                    lang.strip() for lang in data["regions"].split(",") if lang.strip()
                ),
            }
        return super().from_dict(data)


@dataclass(frozen=True)
class AblationTable(Record):
    """Perplexity per evaluated language (rows) and deactivated region (columns), and what goes with
    it.

    ``twins`` maps each random control's column to the language whose region it is matched to
    (None for a control of no one language, such as the paper's ``random-largest``).
    """

    checkpoint: str
    model: str
    params: AblationSettings
    tokens: dict[str, int]
    perplexity: dict[str, dict[str, float]]
    increase_percent: dict[str, dict[str, float]]
    region_size: dict[str, int]
    region_percent: dict[str, float]
    twins: dict[str, str | None] = field(default_factory=dict)
    choice_accuracy: dict[str, dict[str, float]] | None = None
    # the store's policy, fed in every evaluation (None: an older table)
    special_tokens: str | None = None
    # deactivated region -> prompt language -> share of greedy continuations identified as the
    # prompt's language
    generation_language: dict[str, dict[str, float]] | None = None
    # "task metric" -> deactivated region -> the harness's score (``--lm-eval``), and the harness
    # that gave them
    harness: dict[str, dict[str, float]] | None = None
    harness_version: str | None = None

    @classmethod
    def from_dict(cls, data: dict) -> "AblationTable":
        # written before twins were recorded: the control's name says ("random~en")
        if "twins" not in data:
            names: dict = next(iter(data.get("increase_percent", {}).values()), {})
            data = {
                **data,
                "twins": {
                    name: name.partition("~")[2] or None
                    for name in names
                    if name.startswith(("random", "layer-random"))
                },
            }
        return super().from_dict(data)

    @property
    def columns(self) -> list[str]:
        """The deactivated regions, in table order (the full model excluded)."""
        return [name for name in self.region_size]

    def own_region_increase(self) -> float | None:
        """Mean over languages of the perplexity increase when the language's own region is off."""
        own = [row[lang] for lang, row in self.increase_percent.items() if lang in row]
        return sum(own) / len(own) if own else None

    def random_twin_increase(self) -> float | None:
        """Mean over languages of the increase when the random twin of the language's own region is
        off."""
        values = [
            self.increase_percent[lang][column]
            for column, lang in self.twins.items()
            if lang is not None and lang in self.increase_percent
        ]
        return sum(values) / len(values) if values else None

    def full_model_choice_accuracy(self) -> float | None:
        """The intact model's choice accuracy, averaged over languages; None without a choice
        task."""
        if not self.choice_accuracy:
            return None
        return sum(cells[FULL_MODEL] for cells in self.choice_accuracy.values()) / len(
            self.choice_accuracy
        )


@dataclass(frozen=True)
class Generation(Record):
    """One prompt's greedy continuation under each deactivation (column name -> text)."""

    lang: str
    sid: str
    prompt: str
    continuations: dict[str, str]
    # column -> the continuation's identified language
    languages: dict[str, str] = field(default_factory=dict)
