"""Extraction: a corpus and a model (or several revisions of one) into an activation store.

For every row block of the store that is not done yet, the block's rows are run in length-sorted
batches; hooks mean-pool each layer's neurons over the real tokens of each sample on the device
(``PoolingHooks``); the [batch, layers x neurons] result leaves the device in one copy per batch;
the finished block goes to a background writer that writes it and then marks it done.
"""

from __future__ import annotations

import json
import os
import time
import warnings
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
from lfe.store import COMPRESSIONS, STORE_DTYPES, ActivationStore, BackgroundWriter, Checkpoint
from lfe.store.api import checkpoint_name_error
from lfe.store.lock import writer_lock

BLOCK_BYTES = 256 << 20  # host memory of one row block in float32; the writer queues two
# Padded tokens per batch when none is given. On CPU small batches stay in cache (measured in
# benchmarks/RESULTS.md: 512 beat 4,096 by 20 percent); a GPU wants large ones.
DEFAULT_BATCH_TOKENS = {"cpu": 512, "cuda": 16384}


@dataclass(frozen=True)
class ExtractSettings:
    """Everything that changes a stored number. Recorded with each checkpoint; a resume must match."""

    batch_tokens: int | None = None  # None: DEFAULT_BATCH_TOKENS of the device
    dtype: str = "float32"
    store_dtype: str = "float32"
    compression: str = "zstd"
    device: str = "cpu"
    special_tokens: bool = False
    padding_side: str = "right"
    max_tokens: int | None = None
    block_rows: int | None = None  # None: chosen from the model's width (or the stored value)

    def __post_init__(self):
        problems = []
        if self.batch_tokens is not None and self.batch_tokens < 1:
            problems.append(f"--batch-tokens must be positive, got {self.batch_tokens}")
        if self.dtype not in DTYPES:
            problems.append(f"--dtype {self.dtype!r} is not one of {', '.join(DTYPES)}")
        if self.store_dtype not in STORE_DTYPES:
            problems.append(f"--store-dtype {self.store_dtype!r} is not one of {', '.join(STORE_DTYPES)}")
        if self.compression not in COMPRESSIONS:
            problems.append(f"--compression {self.compression!r} is not one of {', '.join(COMPRESSIONS)}")
        if self.padding_side not in ("right", "left"):
            problems.append(f"padding side must be right or left, got {self.padding_side!r}")
        if self.max_tokens is not None and self.max_tokens < 1:
            problems.append(f"--max-tokens must be positive, got {self.max_tokens}")
        if self.block_rows is not None and self.block_rows < 1:
            problems.append(f"--block-rows must be positive, got {self.block_rows}")
        try:
            torch.device(self.device)
        except (RuntimeError, TypeError):
            problems.append(f"--device {self.device!r} is not a device: use cpu, cuda or cuda:N")
        if problems:
            raise LfeError("; ".join(problems))

    def resolved(self) -> "ExtractSettings":
        """These settings with the device's default batch size filled in; the device must exist here."""
        device = torch.device(self.device)
        if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
            raise LfeError(f"--device {self.device}: this machine has {torch.cuda.device_count()} CUDA device(s); "
                           "use --device cpu or another index")
        if self.batch_tokens is not None:
            return self
        kind = device.type
        return replace(self, batch_tokens=DEFAULT_BATCH_TOKENS.get(kind, DEFAULT_BATCH_TOKENS["cpu"]))


@dataclass
class CheckpointReport:
    name: str
    status: str  # "written" or "already complete"
    rows: int = 0
    tokens: int = 0
    seconds: float = 0.0


def extract(
    model: str | list[str],
    corpus: Corpus,
    out: str | Path,
    revisions: tuple[str | None, ...] = (None,),
    settings: ExtractSettings = ExtractSettings(),
    name: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    client=None,
) -> list[CheckpointReport]:
    """Extract pooled activations of ``corpus`` for each revision of ``model`` into the store ``out``.

    ``model`` may also be a list of local checkpoint directories (a training run's series), one
    checkpoint each, named after its directory. Rerunning after a crash completes the store
    (bit-identical to an uninterrupted run); rerunning a finished run does nothing. A store or
    checkpoint made from another corpus, model or settings is refused with the differences, unless
    ``overwrite``. With a ``dask.distributed`` ``client``, checkpoints and row blocks run as tasks
    on its workers (``lfe.engine.distributed``).
    """
    settings = settings.resolved()
    sources, names = checkpoint_sources(model, revisions, name)
    with writer_lock(out):
        store = _open_store(Path(out), corpus, overwrite)
        if client is not None:
            from lfe.engine.distributed import extract_on_cluster

            return extract_on_cluster(client, store.path, sources, names, corpus, settings, overwrite, progress)
        return _extract_here(store, sources, names, corpus, settings, overwrite, progress)


def _extract_here(store, sources, names, corpus, settings, overwrite, progress) -> list[CheckpointReport]:
    reports = []
    for source, checkpoint_name in zip(sources, names):
        prepared = prepare_checkpoint(store, source, checkpoint_name, corpus, settings, overwrite, load_for_extraction)
        if prepared is None:
            reports.append(CheckpointReport(checkpoint_name, "already complete"))
            continue
        checkpoint, loaded, token_ids = prepared
        started = time.perf_counter()
        rows, tokens = run_blocks(loaded.model, loaded.adapter, checkpoint, token_ids, corpus,
                                  stored_settings(checkpoint), progress, pad_id(loaded.tokenizer))
        reports.append(CheckpointReport(checkpoint_name, "written", rows, tokens, time.perf_counter() - started))
    return reports


def checkpoint_sources(model: str | list[str], revisions=(None,), name: str | None = None):
    """The model sources to extract and their checkpoint names; clear errors for clashes."""
    revisions = tuple(revisions) or (None,)
    series = not isinstance(model, str)
    if series and (revisions != (None,) or name is not None):
        raise LfeError("a checkpoint series (--checkpoints) takes neither --revision nor --name")
    if name is not None and len(revisions) > 1:
        raise LfeError("--name names one checkpoint; with several revisions each is named after its revision")
    sources = [resolve_source(path) for path in model] if series else [resolve_source(model, r) for r in revisions]
    if not sources:
        raise LfeError("no checkpoints to extract: the --checkpoints pattern matched no model directory")
    names = [name or source.default_name for source in sources]
    for checkpoint_name in names:
        if problem := checkpoint_name_error(checkpoint_name):
            raise LfeError(problem)
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        raise LfeError(f"several checkpoints would be named {', '.join(clashes)}; extract them into separate stores")
    return sources, names


@dataclass
class LoadedModel:
    model: object
    tokenizer: object
    adapter: object
    digest: str
    tokenizer_digest: str


def load_for_extraction(source: ModelSource, settings: ExtractSettings) -> LoadedModel:
    model, tokenizer = load_model(source, settings.dtype, settings.device)
    return LoadedModel(model, tokenizer, adapter_for(model), weights_hash(model), tokenizer_fingerprint(tokenizer))


def stored_settings(checkpoint: Checkpoint) -> ExtractSettings:
    """The settings a checkpoint was created with (what a resume, here or on a worker, must use)."""
    return ExtractSettings(**checkpoint.meta["settings"])


def _open_store(path: Path, corpus: Corpus, overwrite: bool) -> ActivationStore:
    if path.exists():
        if not os.access(path, os.W_OK):
            raise StoreError(f"{path} is read-only for this user; fix its permissions or pass another --out")
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


def prepare_checkpoint(
    store: ActivationStore, source: ModelSource, name: str, corpus: Corpus,
    settings: ExtractSettings, overwrite: bool, load,
) -> tuple[Checkpoint, LoadedModel, list[list[int]]] | None:
    """Check or create checkpoint ``name`` for ``source``; None when it is already complete.

    ``load(source, settings)`` gives the model (a worker passes one that keeps its last model).
    """
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
        else:
            missing = checkpoint.blocks_missing_chunks()  # deleted or lost chunk files would read as zeros
            if missing:
                warnings.warn(f"checkpoint {name!r}: blocks {listing(missing)} were marked done but chunk files are "
                              "missing; recomputing exactly those", stacklevel=2)
                checkpoint.mark_pending(missing)
            if checkpoint.complete:
                return None

    loaded = load(source, settings)
    if checkpoint is not None:
        changed = [f"{what} (stored sha256 {checkpoint.meta[key][:12]}, now {now[:12]})"
                   for what, key, now in (("weights", "weights_hash", loaded.digest),
                                          ("tokenizer", "tokenizer_hash", loaded.tokenizer_digest))
                   if checkpoint.meta[key] != now]
        if changed and not overwrite:
            raise StoreError(
                f"checkpoint {name!r} in {store.path} was written by a model with other {' and '.join(changed)}; "
                "pass --overwrite to replace it or --name to add this model as another checkpoint"
            )
        if changed:
            store.delete_checkpoint(name)
            checkpoint = None
    model, adapter = loaded.model, loaded.adapter
    token_ids = tokenize(loaded.tokenizer, corpus, settings, model.config)
    if checkpoint is None:
        if settings.block_rows is None:
            settings = replace(settings, block_rows=default_block_rows(adapter.n_layers * adapter.n_neurons))
        checkpoint = store.create_checkpoint(
            name, adapter.n_layers, adapter.n_neurons, min(settings.block_rows, len(corpus)),
            settings.store_dtype, np.array([len(ids) for ids in token_ids], dtype=np.int32),
            compression=settings.compression,
            meta={
                **_identity(source, settings),
                "family": adapter.name,
                "model_type": model.config.model_type,
                "read_point": adapter.neuron_module,
                "read": adapter.read,
                "deactivation_point": adapter.deactivation_module,
                "pooling": "mean over the sample's real tokens, float32 accumulation",
                "weights_hash": loaded.digest,
                "tokenizer_hash": loaded.tokenizer_digest,
                "n_params": sum(p.numel() for p in model.parameters()),
                "series": source.series,
                "step": training_step(source),
                "versions": {"torch": torch.__version__, "transformers": _transformers_version()},
            },
        )
    return checkpoint, loaded, token_ids


def training_step(source: ModelSource) -> int | None:
    """The training step a local checkpoint records (Hugging Face Trainer's trainer_state.json), else None."""
    if source.kind != "local":
        return None
    state = Path(source.spec) / "trainer_state.json"
    try:
        step = json.loads(state.read_text())["global_step"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return int(step) if isinstance(step, int) else None


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
    settings: ExtractSettings, progress: bool, pad: int, blocks: list[int] | None = None,
) -> tuple[int, int]:
    """Compute and write every pending block of ``checkpoint`` (or of ``blocks``); returns (rows, real tokens)."""
    from tqdm import tqdm

    pending = checkpoint.pending_blocks()
    if blocks is not None:
        pending = [block for block in pending if block in set(blocks)]
    if not pending:
        return 0, 0
    plans = {block: list(padded_batches(block_lengths(checkpoint, block, token_ids),
                                        token_ids[checkpoint.block_slice(block)], settings, pad))
             for block in pending}
    max_batch = max(len(batch) for plan in plans.values() for batch, *_ in plan)
    device = torch.device(settings.device)
    pooled = torch.empty((max_batch, adapter.n_layers, adapter.n_neurons), dtype=torch.float32, device=device)
    labels = np.array([f"{lang}/{sid}" for lang, sid in zip(corpus.row_langs(), corpus.row_sids())])
    total_rows = sum(len(batch) for plan in plans.values() for batch, *_ in plan)
    rows_done = tokens_done = 0
    bar = tqdm(total=total_rows, unit="sample", desc=f"extract {checkpoint.name}", disable=not progress,
               dynamic_ncols=True, smoothing=0.1)
    started = time.perf_counter()

    with torch.inference_mode(), PoolingHooks(adapter, pooled) as hooks, \
            BackgroundWriter(checkpoint.write_block) as writer:
        landing = _Landing(max_batch, pooled, settings.store_dtype, device, writer, labels)
        for block, plan in plans.items():
            span = checkpoint.block_slice(block)
            rows = np.empty((span.stop - span.start, pooled.shape[1] * pooled.shape[2]), dtype=settings.store_dtype)
            norms = np.empty(span.stop - span.start)
            for index, (batch, input_ids, mask, positions) in enumerate(plan):
                view = hooks.set_batch(mask.to(device))  # [B, L, K]
                forward(model, adapter, input_ids, mask, positions, device)
                landing.send(view, rows, norms, batch, span, block if index == len(plan) - 1 else None)
                tokens_done += int(mask.sum())
                rows_done += len(batch)
                bar.update(len(batch))
                bar.set_postfix_str(f"{tokens_done / (time.perf_counter() - started):,.0f} tok/s", refresh=False)
        landing.flush()
    bar.close()
    return rows_done, tokens_done


class _Landing:
    """Bring each batch's pooled rows to the host, one batch behind the device.

    Batch j is cast to the store dtype and checked for non-finite rows on the device, then copied
    (non-blocking, into one of two pinned buffers) while batch j+1 is computed; its rows are filed
    when batch j+1 has been launched. A block whose last batch has landed goes to the writer.
    """

    def __init__(self, max_batch: int, pooled: torch.Tensor, store_dtype: str, device, writer, labels):
        width = pooled.shape[1] * pooled.shape[2]
        self.on_gpu = device.type == "cuda"
        self.dtype = getattr(torch, store_dtype)
        self.hosts = [torch.empty((max_batch, width), dtype=self.dtype, pin_memory=self.on_gpu) for _ in range(2)]
        self.flags = [torch.empty((2, max_batch), dtype=torch.bool, pin_memory=self.on_gpu) for _ in range(2)]
        self.norms = [torch.empty(max_batch, dtype=torch.float32, pin_memory=self.on_gpu) for _ in range(2)]
        self.writer, self.labels = writer, labels
        self.step, self.in_flight = 0, None

    def send(self, view: torch.Tensor, rows: np.ndarray, norms: np.ndarray, batch: list[int], span: slice,
             block: int | None) -> None:
        size = len(batch)
        values = view.reshape(size, -1)  # [B, L*K] float32
        stored = values.to(self.dtype)  # [B, L*K]: no copy for a float32 store
        finite_stored = torch.isfinite(stored).all(dim=1)  # [B]: NaN, inf, or a float16 overflow
        finite_values = finite_stored if stored is values else torch.isfinite(values).all(dim=1)  # [B]
        finite = torch.stack([finite_stored, finite_values])  # [2, B]
        row_norms = torch.linalg.vector_norm(stored, dim=1, dtype=torch.float32)  # [B]
        host, flags = self.hosts[self.step % 2][:size], self.flags[self.step % 2][:, :size]
        host_norms = self.norms[self.step % 2][:size]
        host.copy_(stored, non_blocking=self.on_gpu)  # the rows' one device-to-host copy
        flags.copy_(finite, non_blocking=self.on_gpu)
        host_norms.copy_(row_norms, non_blocking=self.on_gpu)
        event = torch.cuda.Event() if self.on_gpu else None
        if event is not None:
            event.record()
        self.flush()  # the previous batch, while the device computes this one
        self.in_flight = (rows, norms, batch, span, host, flags, host_norms, event, block)
        self.step += 1

    def flush(self) -> None:
        if self.in_flight is None:
            return
        rows, norms, batch, span, host, flags, host_norms, event, block = self.in_flight
        self.in_flight = None
        if event is not None:
            event.synchronize()
        flags = flags.numpy()
        if not flags[0].all():
            bad = self.labels[span][sorted(batch[i] for i in np.flatnonzero(~flags[0]))]
            overflow = (flags[1] & ~flags[0]).any()
            hint = "; they overflow float16: pass --store-dtype float32" if overflow else "; try --dtype float32"
            raise LfeError(f"non-finite activations for {listing(bad)}{hint}")
        rows[batch] = host.numpy()
        norms[batch] = host_norms.numpy()
        if block is not None:
            self.writer.submit(block, rows, norms)


def default_block_rows(width: int) -> int:
    """Rows per block: as many as BLOCK_BYTES of float32 rows hold, a multiple of 16, 16 to 4096.

    Large blocks sort more rows by length (less padding); measured in benchmarks/RESULTS.md, eight
    smaller blocks to overlap writing with computing saved nothing on a GPU and cost padding on a CPU.
    """
    return int(np.clip(BLOCK_BYTES // (width * 4) // 16 * 16, 16, 4096))


def block_lengths(checkpoint: Checkpoint, block: int, token_ids: list[list[int]]) -> list[int]:
    return [len(ids) for ids in token_ids[checkpoint.block_slice(block)]]


def padded_batches(lengths: list[int], block_ids: list[list[int]], settings: ExtractSettings, pad: int):
    """Yield (row indices within the block, input_ids, mask, positions) for one block's batch plan."""
    for batch in plan_batches(lengths, settings.batch_tokens):
        yield (batch, *pad_batch([block_ids[i] for i in batch], pad, settings.padding_side))


def forward(model, adapter, input_ids, mask, positions, device) -> None:
    """One forward pass of the decoder without its LM head: the logits are never needed."""
    kwargs = {"position_ids": positions.to(device)} if adapter.takes_position_ids else {}
    model.base_model(input_ids=input_ids.to(device), attention_mask=mask.to(device), use_cache=False, **kwargs)
