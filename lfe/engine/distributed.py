"""Extraction on a ``dask.distributed`` cluster: tasks of (checkpoint, row block).

Each checkpoint is first prepared by one task (load the model, check the store, create the
checkpoint's arrays); then each of its pending row blocks is a task that writes only its own chunks
(a block is one chunk row of ``pooled`` and ``norms`` and one chunk of ``done``), so two writers
never touch one chunk. A task whose worker dies is run again on another worker; a block is
recomputed bit-identically and its done flag is written last, so the store ends equal to a
one-process run. A worker keeps only the last model it loaded: memory stays flat however many
checkpoints a store holds.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lfe.corpus import Corpus
from lfe.engine.loop import run_blocks
from lfe.engine.prepare import CheckpointReport, Prepared, prepare_checkpoint, tokenize
from lfe.errors import StoreError
from lfe.models.loading import LoadedModel, load
from lfe.records import ExtractSettings, ModelSource
from lfe.store import ActivationStore

if TYPE_CHECKING:
    from distributed import Client

RETRIES = 3  # a task that raises (say, out of memory on one worker) is retried this often
_LAST_MODEL: dict = {}  # per worker process: the model of the last task


def worker_model(source: ModelSource, settings: ExtractSettings) -> LoadedModel:
    """The model for ``source``, kept from this worker's last task when it is the same one."""
    key = (source, settings.dtype, settings.device)
    if _LAST_MODEL.get("key") != key:
        _LAST_MODEL.clear()  # drops the previous model (and its tokens) before the next one loads
        gc.collect()
        _LAST_MODEL.update(key=key, loaded=load(source, settings.dtype, settings.device))
    return _LAST_MODEL["loaded"]


def prepare_task(
    path: str,
    source: ModelSource,
    name: str,
    corpus: Corpus,
    settings: ExtractSettings,
    overwrite: bool,
) -> list[int] | None:
    """Check or create one checkpoint; its pending blocks, or None when it is complete."""
    store = ActivationStore.open(path, mode="r+")
    prepared = prepare_checkpoint(
        store, source, name, corpus, settings, overwrite=overwrite, load=worker_model
    )
    return None if prepared is None else prepared.checkpoint.pending_blocks()


def block_task(
    path: str, source: ModelSource, name: str, corpus: Corpus, block: int
) -> tuple[int, int]:
    """Compute and write one row block of a prepared checkpoint; (rows, tokens) done."""
    checkpoint = ActivationStore.open(path, mode="r+").checkpoint(name)
    settings = checkpoint.meta.settings
    loaded = worker_model(source, settings)
    if loaded.weights_hash != checkpoint.meta.weights_hash:
        raise StoreError(
            f"the model at {source.spec} changed while checkpoint {name!r} was being extracted"
        )
    key = (corpus.fingerprint, settings.max_tokens, settings.special_tokens)
    # tokenized once per worker and checkpoint, not per block
    if _LAST_MODEL.get("tokens_key") != key:
        _LAST_MODEL.update(
            tokens_key=key, tokens=tokenize(loaded.tokenizer, corpus, settings, loaded.model.config)
        )
    prepared = Prepared(checkpoint, loaded, _LAST_MODEL["tokens"], corpus.row_labels())
    return run_blocks(prepared, progress=False, blocks=[block])


def extract_on_cluster(
    client: Client,
    path: Path,
    sources: list[ModelSource],
    names: list[str],
    corpus: Corpus,
    settings: ExtractSettings,
    *,
    overwrite: bool,
    progress: bool,
) -> list[CheckpointReport]:
    """``lfe.engine.extraction`` with a client: prepare every checkpoint, then run all pending
    blocks as tasks."""
    from distributed import as_completed
    from tqdm import tqdm

    store = str(path)
    [shared_corpus] = client.scatter([corpus], broadcast=True)
    started = time.perf_counter()
    preparing = {
        client.submit(
            prepare_task,
            store,
            source,
            name,
            shared_corpus,
            settings,
            overwrite,
            pure=False,
            retries=RETRIES,
        ): (source, name)
        for source, name in zip(sources, names)
    }
    reports = {name: CheckpointReport(name, CheckpointReport.COMPLETE) for name in names}
    bar = tqdm(
        total=0,
        unit="block",
        desc=f"extract on {len(client.scheduler_info()['workers'])} workers",
        disable=not progress,
        dynamic_ncols=True,
    )
    running = as_completed(preparing)
    blocks = {}
    for future in running:
        if future in preparing:
            source, name = preparing[future]
            pending = future.result()
            if pending is None:
                continue
            reports[name].status = CheckpointReport.WRITTEN
            bar.total += len(pending)
            bar.refresh()
            for block in pending:
                task = client.submit(
                    block_task,
                    store,
                    source,
                    name,
                    shared_corpus,
                    block,
                    pure=False,
                    retries=RETRIES,
                )
                blocks[task] = name
                running.add(task)
        else:
            rows, tokens = future.result()
            report = reports[blocks[future]]
            report.rows += rows
            report.tokens += tokens
            report.seconds = time.perf_counter() - started
            bar.update()
    bar.close()
    return [reports[name] for name in names]
