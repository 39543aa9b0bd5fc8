"""Extraction: a corpus and a model (or several revisions of one) into an activation store.

For every row block of the store that is not done yet, the block's rows are run in length-sorted
batches; hooks mean-pool each layer's neurons over the real tokens of each sample on the device
(``PoolingHooks``); the [batch, layers x neurons] result leaves the device in one copy per batch;
the finished block goes to a background writer that writes it and then marks it done.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from lfe.corpus import Corpus
from lfe.engine.batching import pad_batch, plan_batches
from lfe.engine.families import adapter_for
from lfe.engine.hooks import PoolingHooks
from lfe.engine.loading import (
    DTYPES, ModelSource, load_model, resolve_source, tokenizer_fingerprint, weights_hash,
)
from lfe.errors import LfeError, StoreError, listing
from lfe.store import STORE_DTYPES, ActivationStore, BackgroundWriter, Checkpoint
from lfe.store.api import checkpoint_name_error

BLOCK_BYTES = 256 << 20  # host memory of one row block in float32; the writer queues two


@dataclass(frozen=True)
class ExtractSettings:
    """Everything that changes a stored number. Recorded with each checkpoint; a resume must match."""

    batch_tokens: int = 4096
    dtype: str = "float32"
    store_dtype: str = "float32"
    device: str = "cpu"
    special_tokens: bool = False
    padding_side: str = "right"
    max_tokens: int | None = None
    block_rows: int | None = None  # None: chosen from the model's width (or the stored value)

    def __post_init__(self):
        problems = []
        if self.batch_tokens < 1:
            problems.append(f"--batch-tokens must be positive, got {self.batch_tokens}")
        if self.dtype not in DTYPES:
            problems.append(f"--dtype {self.dtype!r} is not one of {', '.join(DTYPES)}")
        if self.store_dtype not in STORE_DTYPES:
            problems.append(f"--store-dtype {self.store_dtype!r} is not one of {', '.join(STORE_DTYPES)}")
        if self.padding_side not in ("right", "left"):
            problems.append(f"padding side must be right or left, got {self.padding_side!r}")
        if self.max_tokens is not None and self.max_tokens < 1:
            problems.append(f"--max-tokens must be positive, got {self.max_tokens}")
        if self.block_rows is not None and self.block_rows < 1:
            problems.append(f"--block-rows must be positive, got {self.block_rows}")
        if problems:
            raise LfeError("; ".join(problems))


@dataclass
class CheckpointReport:
    name: str
    status: str  # "written" or "already complete"
    rows: int = 0
    tokens: int = 0
    seconds: float = 0.0


def extract(
    model: str,
    corpus: Corpus,
    out: str | Path,
    revisions: tuple[str | None, ...] = (None,),
    settings: ExtractSettings = ExtractSettings(),
    name: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> list[CheckpointReport]:
    """Extract pooled activations of ``corpus`` for each revision of ``model`` into the store ``out``.

    Rerunning after a crash completes the store (bit-identical to an uninterrupted run); rerunning
    a finished run does nothing. A store or checkpoint made from another corpus, model or settings
    is refused with the differences, unless ``overwrite``.
    """
    revisions = tuple(revisions) or (None,)
    if name is not None and len(revisions) > 1:
        raise LfeError("--name names one checkpoint; with several revisions each is named after its revision")
    sources = [resolve_source(model, revision) for revision in revisions]
    names = [name or source.default_name for source in sources]
    for checkpoint_name in names:
        if problem := checkpoint_name_error(checkpoint_name):
            raise LfeError(problem)
    store = _open_store(Path(out), corpus, overwrite)
    return [
        _extract_checkpoint(store, source, checkpoint_name, corpus, settings, overwrite, progress)
        for source, checkpoint_name in zip(sources, names)
    ]


def _open_store(path: Path, corpus: Corpus, overwrite: bool) -> ActivationStore:
    if path.exists():
        store = ActivationStore.open(path, mode="r+")
        stored = store.corpus
        if stored["fingerprint"] == corpus.fingerprint:
            return store
        if not overwrite:
            raise StoreError(
                f"{path} holds activations of another corpus ({_corpus_differences(stored, corpus.describe())}); "
                "pass the same corpus and selection, --overwrite to replace the store, or another --out"
            )
        ActivationStore.remove(path)
    return ActivationStore.create(path, corpus.describe(), corpus.row_langs(), corpus.row_sids(), corpus.texts)


def _corpus_differences(stored: dict, given: dict) -> str:
    """What differs between two corpus descriptions, most telling first; fingerprints shortened."""
    shown = {**given, "fingerprint": given["fingerprint"][:12], "selection": {}}
    before = {**stored, "fingerprint": stored["fingerprint"][:12], "selection": {}}
    differences = _diff_nested(before, shown)
    selection = _diff_nested(stored.get("selection", {}), given.get("selection", {}), "selection.")
    return "; ".join(part for part in (differences, selection) if part)


def _identity(source: ModelSource, settings: ExtractSettings) -> dict:
    return {"source": source.describe(), "settings": asdict(settings)}


def _extract_checkpoint(
    store: ActivationStore, source: ModelSource, name: str, corpus: Corpus,
    settings: ExtractSettings, overwrite: bool, progress: bool,
) -> CheckpointReport:
    checkpoint = store.checkpoint(name) if name in store.checkpoint_names() else None
    if checkpoint is not None:
        meta = checkpoint.meta
        if settings.block_rows is None:
            settings = replace(settings, block_rows=meta["settings"]["block_rows"])
        stored = {"source": meta["source"], "settings": meta["settings"]}
        if stored != _identity(source, settings):
            if not overwrite:
                raise StoreError(
                    f"checkpoint {name!r} in {store.path} was made with other inputs "
                    f"({_diff_nested(stored, _identity(source, settings))}); rerun with the same model and "
                    "settings to resume, pass --name to add another checkpoint, or --overwrite to replace it"
                )
            store.delete_checkpoint(name)
            checkpoint = None
        elif checkpoint.complete:
            return CheckpointReport(name, "already complete")

    model, tokenizer = load_model(source, settings.dtype, settings.device)
    adapter = adapter_for(model)
    digest = weights_hash(model)
    if checkpoint is not None and checkpoint.meta["weights_hash"] != digest:
        if not overwrite:
            raise StoreError(
                f"checkpoint {name!r} in {store.path} was written by a model with other weights "
                f"(stored hash {checkpoint.meta['weights_hash'][:12]}, now {digest[:12]}); pass --overwrite "
                "to replace it or --name to add this model as another checkpoint"
            )
        store.delete_checkpoint(name)
        checkpoint = None
    token_ids = tokenize(tokenizer, corpus, settings, model.config)
    if checkpoint is None:
        if settings.block_rows is None:
            row_bytes = adapter.n_layers * adapter.n_neurons * 4
            settings = replace(settings, block_rows=int(np.clip(BLOCK_BYTES // row_bytes, 16, 4096)))
        checkpoint = store.create_checkpoint(
            name, adapter.n_layers, adapter.n_neurons, min(settings.block_rows, len(corpus)),
            settings.store_dtype, np.array([len(ids) for ids in token_ids], dtype=np.int32),
            meta={
                **_identity(source, settings),
                "family": adapter.name,
                "model_type": model.config.model_type,
                "read_point": adapter.neuron_module,
                "read": adapter.read,
                "deactivation_point": adapter.deactivation_module,
                "pooling": "mean over the sample's real tokens, float32 accumulation",
                "weights_hash": digest,
                "tokenizer_hash": tokenizer_fingerprint(tokenizer),
                "versions": {"torch": torch.__version__, "transformers": _transformers_version()},
            },
        )
    started = time.perf_counter()
    rows, tokens = run_blocks(model, adapter, checkpoint, token_ids, corpus, settings, progress, pad_id(tokenizer))
    return CheckpointReport(name, "written", rows, tokens, time.perf_counter() - started)


def _diff_nested(stored: dict, given: dict, prefix: str = "") -> str:
    parts = []
    for key in sorted(set(stored) | set(given)):
        a, b = stored.get(key), given.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            if inner := _diff_nested(a, b, f"{prefix}{key}."):
                parts.append(inner)
        elif a != b:
            parts.append(f"{prefix}{key}: stored {a!r}, now {b!r}")
    return "; ".join(parts)


def _transformers_version() -> str:
    import transformers

    return transformers.__version__


def pad_id(tokenizer) -> int:
    """Any id works for padding (it is masked out of attention and pooling); prefer the tokenizer's."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if candidate is not None:
            return candidate
    return 0


def context_length(config) -> int | None:
    """The longest input the model's positions allow; None for models without a limit (ALiBi)."""
    for key in ("max_position_embeddings", "n_positions"):
        if getattr(config, key, None):
            return int(getattr(config, key))
    return None


def tokenize(tokenizer, corpus: Corpus, settings: ExtractSettings, config) -> list[list[int]]:
    """Token ids of every row; special tokens only if asked (the paper adds none)."""
    token_ids = tokenizer(list(corpus.texts), add_special_tokens=settings.special_tokens)["input_ids"]
    if settings.max_tokens is not None:
        token_ids = [ids[: settings.max_tokens] for ids in token_ids]
    labels = [f"{lang}/{sid}" for lang, sid in zip(corpus.row_langs(), corpus.row_sids())]
    empty = [labels[i] for i, ids in enumerate(token_ids) if not ids]
    if empty:
        raise LfeError(f"these texts tokenize to no tokens: {listing(empty)}; remove them or pass --special-tokens")
    limit = context_length(config)
    if limit is not None:
        long = [f"{labels[i]} ({len(ids)} tokens)" for i, ids in enumerate(token_ids) if len(ids) > limit]
        if long:
            raise LfeError(
                f"{len(long)} text(s) are longer than the model's context of {limit} tokens: {listing(long)}; "
                f"pass --max-tokens {limit} to truncate them"
            )
    return token_ids


def run_blocks(
    model, adapter, checkpoint: Checkpoint, token_ids: list[list[int]], corpus: Corpus,
    settings: ExtractSettings, progress: bool, pad: int,
) -> tuple[int, int]:
    """Compute and write every pending block of ``checkpoint``; returns (rows, real tokens) done."""
    from tqdm import tqdm

    pending = checkpoint.pending_blocks()
    plans = {}
    for block in pending:
        span = checkpoint.block_slice(block)
        plans[block] = plan_batches([len(ids) for ids in token_ids[span]], settings.batch_tokens)
    if not plans:
        return 0, 0
    width = adapter.n_layers * adapter.n_neurons
    max_batch = max(len(batch) for plan in plans.values() for batch in plan)
    device = torch.device(settings.device)
    pooled = torch.empty((max_batch, adapter.n_layers, adapter.n_neurons), dtype=torch.float32, device=device)
    host = torch.empty((max_batch, width), dtype=torch.float32, pin_memory=device.type == "cuda")
    base = model.base_model  # the decoder without the LM head: its logits are never needed
    labels = np.array([f"{lang}/{sid}" for lang, sid in zip(corpus.row_langs(), corpus.row_sids())])
    total_rows = sum(checkpoint.block_slice(b).stop - checkpoint.block_slice(b).start for b in pending)
    rows_done = tokens_done = 0
    bar = tqdm(total=total_rows, unit="sample", desc=f"extract {checkpoint.name}", disable=not progress,
               dynamic_ncols=True, smoothing=0.1)
    started = time.perf_counter()

    def write(block: int, rows: np.ndarray) -> None:
        span = checkpoint.block_slice(block)
        stored = rows.astype(checkpoint.pooled.dtype)
        bad = ~np.isfinite(stored).all(axis=1)
        if bad.any():
            overflow = np.isfinite(rows).all(axis=1) & bad
            hint = ("; they overflow float16: pass --store-dtype float32" if overflow.any()
                    else "; try --dtype float32")
            raise LfeError(f"non-finite activations for {listing(labels[span][bad])}{hint}")
        checkpoint.write_block(block, stored)

    with torch.inference_mode(), PoolingHooks(adapter, pooled) as hooks, BackgroundWriter(write) as writer:
        for block, plan in plans.items():
            span = checkpoint.block_slice(block)
            rows = np.empty((span.stop - span.start, width), dtype=np.float32)
            for batch in plan:
                input_ids, mask, positions = pad_batch([token_ids[span.start + i] for i in batch], pad, settings.padding_side)
                view = hooks.set_batch(mask.to(device))  # [B, L, K]
                kwargs = {"position_ids": positions.to(device)} if adapter.takes_position_ids else {}
                base(input_ids=input_ids.to(device), attention_mask=mask.to(device), use_cache=False, **kwargs)
                host_rows = host[: len(batch)]
                host_rows.copy_(view.reshape(len(batch), width))  # the one device-to-host copy per batch
                rows[batch] = host_rows.numpy()
                tokens_done += int(mask.sum())
                rows_done += len(batch)
                bar.update(len(batch))
                bar.set_postfix_str(f"{tokens_done / (time.perf_counter() - started):,.0f} tok/s", refresh=False)
            writer.submit(block, rows)
    bar.close()
    return rows_done, tokens_done
