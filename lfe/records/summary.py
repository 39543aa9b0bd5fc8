"""What ``lfe info`` shows of a store: its corpus and, per checkpoint, its progress, how it was made
and which records are kept for it (``ActivationStore.describe``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from lfe.records.base import Record
from lfe.records.corpus import CorpusDescription
from lfe.records.extraction import CheckpointMeta

# a kept record in a summary: its parameters (JSON, shown as key=value), the sentence saying it
# is damaged, or None when there is none
KeptParams = dict[str, Any] | str | None


@dataclass(frozen=True)
class CheckpointSummary(Record):
    """One checkpoint's shape, progress and metadata, or why it cannot be read (``damaged``)."""

    damaged: str | None = None
    shape: tuple[int, ...] = ()
    chunks: tuple[int, ...] = ()
    dtype: str = ""
    blocks_done: int = 0
    blocks: int = 0
    blocks_missing_chunks: tuple[int, ...] = ()  # marked done, but their chunk files are gone
    complete: bool = False
    analysis: KeptParams = None
    ablation: KeptParams = None
    steering: KeptParams = None
    meta: CheckpointMeta | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON as ``lfe info --json`` prints it: the metadata's fields beside the progress."""
        if self.damaged is not None:
            return {"damaged": self.damaged}
        summary = super().to_dict()
        meta = summary.pop("meta") or {}
        summary.pop("damaged")
        return {**summary, **meta}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckpointSummary:
        own = {field.name for field in dataclasses.fields(cls)}
        meta = {key: value for key, value in data.items() if key not in own}
        return super().from_dict(
            {**{key: value for key, value in data.items() if key in own}, "meta": meta or None}
        )


@dataclass(frozen=True)
class StoreSummary(Record):
    """A store: where it is, the lfe that made it, its corpus and its checkpoints."""

    path: str
    schema_version: int
    lfe_version: str
    corpus: CorpusDescription
    checkpoints: dict[str, CheckpointSummary] = field(default_factory=dict)
