"""Before the first forward pass: which checkpoints to extract, whether each may be resumed, its
tokens.

A checkpoint is resumed only when its recorded identity (model source, settings, weights and
tokenizer hashes) matches what is asked now; otherwise it is refused with the differences, or
replaced with ``overwrite``. Everything here runs the same in one process and on a cluster worker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch

from lfe.corpus import Corpus
from lfe.engine.settings import default_block_rows
from lfe.errors import LfeError, Problem, StoreError, listing
from lfe.log import logger
from lfe.models.loading import LoadedModel, context_length, files_signature, resolve_source
from lfe.models.tokens import Encoded, encode
from lfe.records import CheckpointMeta, ExtractSettings, ModelSource
from lfe.store import ActivationStore, Checkpoint
from lfe.store.schema import checkpoint_name_error

if TYPE_CHECKING:
    from typing import Sequence

    from transformers import PretrainedConfig, PreTrainedTokenizerBase

Loader = Callable[[ModelSource, ExtractSettings], LoadedModel]


class Status(StrEnum):
    """What extraction did with a checkpoint."""

    WRITTEN = "written"
    COMPLETE = "already complete"


@dataclass
class CheckpointReport:
    """What extraction did for one checkpoint."""

    name: str
    status: Status
    rows: int = 0
    tokens: int = 0
    seconds: float = 0.0

    WRITTEN, COMPLETE = Status.WRITTEN, Status.COMPLETE

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


@dataclass
class Prepared:
    """A checkpoint ready for its pending blocks: the store's arrays, the model, every row's
    tokens."""

    checkpoint: Checkpoint
    loaded: LoadedModel
    tokens: Encoded  # every row's token ids and pooled positions
    labels: list[str]  # each row's lang/sid, for messages


def checkpoint_sources(
    model: str | list[str],
    revisions: Sequence[str | None] = (None,),
    name: str | None = None,
    random_init: int | None = None,
) -> tuple[list[ModelSource], list[str]]:
    """The model sources to extract and their checkpoint names; clear errors for clashes."""
    revisions = tuple(revisions) or (None,)
    if not isinstance(model, str) and (revisions != (None,) or name is not None):
        sentence = "(a checkpoint series) takes neither `revisions` nor `name`"
        raise LfeError.of(Problem("pattern", sentence))
    if name is not None and len(revisions) > 1:
        sentence = "names one checkpoint; with several revisions each is named after its revision"
        raise LfeError.of(Problem("name", sentence))
    if isinstance(model, str):
        sources = [resolve_source(model, revision, random_init) for revision in revisions]
    else:
        sources = [resolve_source(path, random_init=random_init) for path in model]
    if not sources:
        raise LfeError.naming("no checkpoints to extract: the `pattern` matched no model directory")
    names = [name or source.default_name for source in sources]
    for checkpoint_name in names:
        if problem := checkpoint_name_error(checkpoint_name):
            raise LfeError(problem)
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise LfeError(
            f"several checkpoints would be named {', '.join(clashes)}; extract them into separate"
            " stores"
        )
    return sources, names


def identity(source: ModelSource, settings: ExtractSettings) -> dict:
    """What a resume must match (as ``CheckpointMeta.identity`` reads it back)."""
    return {"source": source.to_dict(), "settings": settings.to_dict()}


def prepare_checkpoint(
    store: ActivationStore,
    source: ModelSource,
    name: str,
    corpus: Corpus,
    settings: ExtractSettings,
    *,
    overwrite: bool,
    load: Loader,
) -> Prepared | None:
    """Check or create checkpoint ``name`` for ``source``; None when it is already complete.

    ``load(source, settings)`` gives the model (a worker passes one that keeps its last model).
    """
    checkpoint = _resumable(store, source, name, settings, overwrite)
    if checkpoint is not None:
        settings = checkpoint.meta.settings
        _mark_lost_blocks(checkpoint)
        stored = checkpoint.meta.files_signature
        if checkpoint.complete and (stored is None or stored == files_signature(source)):
            return None  # finished, and the model's files are as they were: nothing to load
    loaded = load(source, settings)
    if checkpoint is not None and _model_changed(store, checkpoint, loaded, overwrite):
        checkpoint = None
    if checkpoint is not None and checkpoint.complete:
        return None  # the files were touched, the weights are the same
    tokens = tokenize(loaded.tokenizer, corpus, settings, loaded.model.config)
    if checkpoint is None:
        checkpoint = _create(store, name, source, settings, loaded, tokens)
    return Prepared(checkpoint, loaded, tokens, corpus.row_labels())


def _resumable(
    store: ActivationStore,
    source: ModelSource,
    name: str,
    settings: ExtractSettings,
    overwrite: bool,
) -> Checkpoint | None:
    """The stored checkpoint ``name`` if made with the same inputs; None if absent or replaced."""
    if name not in store.checkpoint_names():
        return None
    checkpoint = store.checkpoint(name)
    stored = checkpoint.meta.identity()
    if settings.block_rows is None and checkpoint.meta.settings.block_rows is not None:
        settings = settings.with_block_rows(checkpoint.meta.settings.block_rows)
    if stored == identity(source, settings):
        return checkpoint
    if not overwrite:
        raise StoreError.naming(
            f"checkpoint {name!r} in {store.path} was made with other inputs"
            f" ({diff_nested(stored, identity(source, settings))}); rerun with the same model and"
            " settings to resume, pass `name` to add another checkpoint, or `overwrite` to"
            " replace it"
        )
    store.delete_checkpoint(name)
    return None


def _mark_lost_blocks(checkpoint: Checkpoint) -> None:
    """Clear the done flag of blocks whose chunk files are missing (they would read as zeros)."""
    missing = checkpoint.blocks_missing_chunks()
    if missing:
        logger.warning(
            f"checkpoint {checkpoint.name!r}: blocks {listing(missing)} were marked done but chunk "
            "files are missing; recomputing exactly those"
        )
        checkpoint.mark_pending(missing)


def _model_changed(
    store: ActivationStore, checkpoint: Checkpoint, loaded: LoadedModel, overwrite: bool
) -> bool:
    """Whether the weights or tokenizer differ from the stored ones (then the checkpoint is
    deleted)."""
    meta = checkpoint.meta
    changed = [
        f"{what} (stored sha256 {str(stored)[:12]}, now {now[:12]})"
        for what, stored, now in (
            ("weights", meta.weights_hash, loaded.weights_hash),
            ("tokenizer", meta.tokenizer_hash, loaded.tokenizer_hash),
        )
        if stored != now
    ]
    if changed and not overwrite:
        raise StoreError.naming(
            f"checkpoint {checkpoint.name!r} in {store.path} was written by a model with other"
            f" {' and '.join(changed)}; pass `overwrite` to replace it or `name` to add this model"
            " as another checkpoint"
        )
    if changed:
        store.delete_checkpoint(checkpoint.name)
    return bool(changed)


def _create(
    store: ActivationStore,
    name: str,
    source: ModelSource,
    settings: ExtractSettings,
    loaded: LoadedModel,
    tokens: Encoded,
) -> Checkpoint:
    adapter, model = loaded.adapter, loaded.model
    if settings.block_rows is None:
        settings = settings.with_block_rows(
            default_block_rows(adapter.n_layers * adapter.n_neurons)
        )
    assert settings.block_rows is not None
    read_point, read, firing_point = adapter.neuron_module, str(adapter.read), adapter.firing_point
    versions = {"torch": torch.__version__, "transformers": _transformers_version()}
    if settings.backend == "vllm":
        from lfe.models.vllm_engine import vllm_read_points, vllm_version

        read_point, read, firing_point = vllm_read_points(adapter)
        versions["vllm"] = vllm_version()
    meta = CheckpointMeta(
        n_layers=adapter.n_layers,
        n_neurons=adapter.n_neurons,
        block_rows=min(settings.block_rows, len(tokens.ids)),
        store_dtype=settings.store_dtype,
        compression=settings.compression,
        source=source,
        settings=settings,
        family=adapter.name,
        model_type=model.config.model_type,
        read_point=read_point,
        read=read,
        deactivation_point=adapter.deactivation_module,
        weights_hash=loaded.weights_hash,
        firing_point=firing_point if "positive" in settings.stats else None,
        tokenizer_hash=loaded.tokenizer_hash,
        files_signature=files_signature(source),
        n_params=sum(p.numel() for p in model.parameters()),
        series=source.series,
        step=training_step(source),
        versions=versions,
    )
    return store.create_checkpoint(
        name, meta, np.array([sum(row) for row in tokens.pooled], dtype=np.int32)
    )


def training_step(source: ModelSource) -> int | None:
    """The training step a local checkpoint records (Hugging Face Trainer's trainer_state.json),
    else None."""
    if source.kind != "local":
        return None
    state = Path(source.spec) / "trainer_state.json"
    try:
        step = json.loads(state.read_text())["global_step"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return int(step) if isinstance(step, int) else None


def diff_nested(stored: dict, given: dict, prefix: str = "") -> str:
    """``key: stored X, now Y`` for every differing leaf of two nested dicts, in key order."""
    parts = []
    for key in sorted(set(stored) | set(given)):
        a, b = stored.get(key), given.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            if inner := diff_nested(a, b, f"{prefix}{key}."):
                parts.append(inner)
        elif a != b:
            parts.append(f"{prefix}{key}: stored {a!r}, now {b!r}")
    return "; ".join(parts)


def _transformers_version() -> str:
    import transformers

    return transformers.__version__


def pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """Any id works for padding (it is masked out of attention and pooling); prefer the
    tokenizer's."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if candidate is not None:
            return candidate
    return 0


def tokenize(
    tokenizer: PreTrainedTokenizerBase,
    corpus: Corpus,
    settings: ExtractSettings,
    config: PretrainedConfig,
) -> Encoded:
    """Every row's token ids and pooled positions under the special-tokens policy
    (``lfe.models.tokens``)."""
    tokens = encode(tokenizer, corpus.texts, settings.special_tokens, settings.max_tokens)
    labels = corpus.row_labels()
    empty = [labels[i] for i, pooled in enumerate(tokens.pooled) if not any(pooled)]
    if empty:
        raise LfeError.naming(
            f"these texts have no tokens to pool: {listing(empty)}; remove them or pass"
            " `special_tokens` include"
        )
    limit = context_length(config)
    if limit is not None:
        long = [
            f"{labels[i]} ({len(ids)} tokens)"
            for i, ids in enumerate(tokens.ids)
            if len(ids) > limit
        ]
        if long:
            raise LfeError.naming(
                f"{len(long)} text(s) are longer than the model's context of {limit} tokens:"
                f" {listing(long)}; pass `max_tokens` {limit} to truncate them"
            )
    return tokens
