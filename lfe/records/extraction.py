"""What extraction records with each checkpoint: where the model came from, the settings, the
shapes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from lfe.errors import Problem
from lfe.records.base import Record, not_one_of, not_positive, refuse

MODEL_DTYPES = ("float32", "float16", "bfloat16")  # what a model runs in
STORE_DTYPES = ("float32", "float16")  # what rows are stored as (Zarr has no bfloat16)
COMPRESSIONS = ("zstd", "none")  # both keep a checksum per chunk (lfe.store.schema)
PADDING_SIDES = ("right", "left")
# fed and left out of the mean, fed and pooled, not fed
SPECIAL_TOKENS = ("exclude", "include", "none")
# per sample and neuron: the mean over the pooled tokens; how many of them fired (LAPE's statistic)
STATS = ("mean", "positive")
# the engine that runs the model: transformers, or vLLM (lfe.models.vllm_engine)
BACKENDS = ("hf", "vllm")
_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")
POOLING = (
    "mean over the sample's tokens but padding (special tokens as the special_tokens setting says),"
    " float32 accumulation"
)


def backend_problems(backend: str, tensor_parallel: int) -> list[Problem]:
    """What is wrong with running on ``backend`` split over ``tensor_parallel`` devices (shared by
    every settings record)."""
    problems = not_one_of("backend", backend, BACKENDS)
    if tensor_parallel > 1 and backend != "vllm":
        sentence = f"{tensor_parallel} splits a model over GPUs with vLLM: set `backend` to vllm"
        problems.append(Problem("tensor_parallel", sentence))
    return problems


def device_problems(device: str) -> list[Problem]:
    """Why ``device`` names no device lfe runs on (cpu, cuda, cuda:N), if it does not."""
    if isinstance(device, str) and _DEVICE.match(device):
        return []
    return [Problem("device", f"{device!r} is not a device: use cpu, cuda or cuda:N")]


def parse_device(device: str) -> str:
    """``device`` if it names one lfe runs on (cpu, cuda, cuda:N); ``SettingsError`` otherwise."""
    refuse(device_problems(device))
    return device


class SourceKind(StrEnum):
    """Where a model's files are: a saved folder, the Hugging Face Hub, or one GGUF file."""

    LOCAL = "local"
    HUB = "hub"
    GGUF = "gguf"


@dataclass(frozen=True)
class ModelSource(Record):
    """Where a model comes from (``kind``), and which of its weights."""

    kind: SourceKind
    spec: str
    revision: str | None = None
    # the seed of random weights in this model's architecture (a control), or None
    random_init: int | None = None

    @property
    def series(self) -> str:
        """What the checkpoints of one training run share: the hub id, or a local checkpoint's
        parent folder."""
        if self.kind == SourceKind.LOCAL:
            return Path(self.spec).parent.name or self.spec
        return (
            Path(self.spec).name.removesuffix(".gguf")
            if self.kind == SourceKind.GGUF
            else self.spec
        )

    @property
    def default_name(self) -> str:
        """The checkpoint name used when none is given: the revision, else the model's own name; a
        random-weights control says so in its name, so it is never mistaken for the trained
        model."""
        name = (self.revision or Path(self.spec.rstrip("/")).name.removesuffix(".gguf")).replace(
            "/", "-"
        )
        return name if self.random_init is None else f"{name}-random-init-seed{self.random_init}"


@dataclass(frozen=True)
class ExtractSettings(Record):
    """Everything that changes a stored number. Recorded with each checkpoint; a resume must
    match."""

    batch_tokens: int | None = None  # None: the device's default (lfe.engine.settings)
    dtype: str = "float32"
    store_dtype: str = "float32"
    compression: str = "zstd"
    device: str = "cpu"
    special_tokens: str = "exclude"  # lfe.models.tokens: exclude, include or none
    padding_side: str = "right"
    max_tokens: int | None = None
    block_rows: int | None = None  # None: chosen from the model's width (or the stored value)
    stats: tuple[str, ...] = ("mean",)  # STATS kept per sample; the mean always
    backend: str = "hf"  # BACKENDS; a stored checkpoint without one was made by transformers
    tensor_parallel: int = 1  # GPUs one vLLM model is split over (vLLM only)

    def __post_init__(self) -> None:
        problems = not_positive(
            batch_tokens=self.batch_tokens,
            max_tokens=self.max_tokens,
            block_rows=self.block_rows,
            tensor_parallel=self.tensor_parallel,
        )
        problems += backend_problems(self.backend, self.tensor_parallel)
        problems += (
            not_one_of("dtype", self.dtype, MODEL_DTYPES)
            + not_one_of("store_dtype", self.store_dtype, STORE_DTYPES)
            + not_one_of("compression", self.compression, COMPRESSIONS)
            + not_one_of("padding_side", self.padding_side, PADDING_SIDES)
            + not_one_of("special_tokens", self.special_tokens, SPECIAL_TOKENS)
        )
        problems += [problem for stat in self.stats for problem in not_one_of("stats", stat, STATS)]
        if "mean" not in self.stats:
            got = ",".join(self.stats)
            problems.append(Problem("stats", f"must include mean (what analyses read), got {got}"))
        refuse(problems + device_problems(self.device))

    @classmethod
    def from_dict(cls, data: dict) -> "ExtractSettings":
        # before the policy had three values it was a flag: False fed the bare text, True fed and
        # pooled specials
        if isinstance(data.get("special_tokens"), bool):
            data = {**data, "special_tokens": "include" if data["special_tokens"] else "none"}
        return super().from_dict(data)

    def with_block_rows(self, block_rows: int) -> "ExtractSettings":
        return replace(self, block_rows=block_rows)


@dataclass(frozen=True)
class CheckpointMeta(Record):
    """One checkpoint's attributes in the store: its shape, and how and from what it was made.

    The store reads only the shape fields (``n_layers`` to ``compression``); the rest is the
    identity of the model and settings, compared on resume and shown by ``lfe info``.
    """

    n_layers: int
    n_neurons: int
    block_rows: int
    store_dtype: str = "float32"
    compression: str = "zstd"
    source: ModelSource | None = None
    settings: ExtractSettings = field(default_factory=ExtractSettings)
    family: str | None = None
    model_type: str | None = None
    read_point: str | None = None
    read: str | None = None
    deactivation_point: str | None = None
    # what "fired" means for the positive counts (None: not counted)
    firing_point: str | None = None
    pooling: str = POOLING
    weights_hash: str | None = None
    tokenizer_hash: str | None = None
    # lfe.models.loading.files_signature at extraction (None: not recorded)
    files_signature: str | None = None
    n_params: int | None = None  # None: extracted by an lfe that did not record it
    series: str | None = None
    step: int | None = None
    versions: dict = field(default_factory=dict)

    def identity(self) -> dict:
        """What a resume must match: the model source and the settings."""
        return {
            "source": self.source.to_dict() if self.source else None,
            "settings": self.settings.to_dict(),
        }
