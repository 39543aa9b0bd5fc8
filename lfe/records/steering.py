"""What ``lfe steer`` records: its settings, each (source, target) cell's language shares, the
texts."""

from __future__ import annotations

from dataclasses import dataclass

from lfe.errors import Problem
from lfe.records.analysis import AnalysisSettings
from lfe.records.base import Record, negative, not_one_of, not_positive, refuse
from lfe.records.extraction import MODEL_DTYPES, backend_problems, device_problems
from lfe.records.methods import METHODS, ZSCORE

# the conditions: a SteerCell's fields, SteeredText's keys
FULL, STEERED, RANDOM = "full", "steered", "random"
CONDITIONS = (FULL, STEERED, RANDOM)
TARGET, SOURCE, OTHER = "target", "source", "other"  # the fields of LanguageShares
SHARES = (TARGET, SOURCE, OTHER)
STEER_RANDOM = ("matched", "layer-matched")  # the controls a steering run can take


@dataclass(frozen=True)
class SteerSettings(Record):
    """Every parameter of a steering run besides the model and the store."""

    targets: tuple[str, ...]  # the languages to steer to (--to)
    prompts: str = ""  # a corpus file of prompts
    # only the prompts of this language (--from); None: every prompt's own language
    source: str | None = None
    method: str = ZSCORE  # whose regions are forced
    # also zero the prompt language's region (and a random twin of it in the control)
    zero_source: bool = False
    random: str = "matched"
    seed: int = 0
    max_new_tokens: int = 32
    dtype: str = "float32"
    device: str = "cpu"
    forced_to: str = (
        "the target language's mean pooled activation over its probe rows (from the store)"
    )
    analysis: AnalysisSettings | None = None  # the analysis whose regions were forced
    # BACKENDS: the engine the model runs on; a record without one ran on transformers
    backend: str = "hf"
    tensor_parallel: int = 1  # GPUs one vLLM model is split over

    def __post_init__(self) -> None:
        refuse(
            device_problems(self.device)
            + not_positive(max_new_tokens=self.max_new_tokens, tensor_parallel=self.tensor_parallel)
            + not_one_of("dtype", self.dtype, MODEL_DTYPES)
            + not_one_of("method", self.method, METHODS)
            + not_one_of("random", self.random, STEER_RANDOM)
            + negative(seed=self.seed)
            + ([] if self.targets else [Problem("targets", "names no language")])
            + backend_problems(self.backend, self.tensor_parallel)
        )


@dataclass(frozen=True)
class LanguageShares(Record):
    """The shares of continuations identified as the target language, as the source (prompt)
    language and as any other (NaN when there was none); ``SHARES`` names the fields."""

    target: float
    source: float
    other: float


@dataclass(frozen=True)
class SteerCell(Record):
    """Prompts of ``source`` steered to ``target``: the shares of continuations identified as the
    target, the source and other languages, for the full model, the steered model and the random
    control."""

    source: str
    target: str
    prompts: int
    region_size: int  # neurons forced (the target's region; the control forces as many random ones)
    full: LanguageShares
    steered: LanguageShares
    random: LanguageShares


@dataclass(frozen=True)
class SteeredText(Record):
    """One prompt's continuations (condition -> text) and their identified languages."""

    lang: str
    sid: str
    prompt: str
    target: str
    continuations: dict[str, str]
    languages: dict[str, str]


@dataclass(frozen=True)
class SteerTable(Record):
    """A steering run: its cells, with what produced them."""

    checkpoint: str
    model: str
    params: SteerSettings
    cells: tuple[SteerCell, ...]
    language_id: str  # the identifier and its version
    special_tokens: str | None = None
