"""Extraction: a corpus and a model (or several revisions of one) into an activation store.

The entry point: takes the store's writer lock, opens or creates the store for the corpus, then
prepares each checkpoint (``lfe.engine.prepare``) and runs its pending blocks (``lfe.engine.loop``)
here, or hands both to a Dask cluster (``lfe.engine.distributed``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lfe.corpus import Corpus
from lfe.engine.distributed import extract_on_cluster
from lfe.engine.loop import run_blocks
from lfe.engine.prepare import CheckpointReport, checkpoint_sources, diff_nested, prepare_checkpoint
from lfe.engine.settings import resolved
from lfe.errors import LfeError, ModelError, Problem, StoreError
from lfe.models.loading import LoadedModel, load, model_device
from lfe.records import CorpusDescription, ExtractSettings, ModelSource
from lfe.store import ActivationStore
from lfe.store.integrity import restored
from lfe.store.lock import writer_lock
from lfe.store.store import is_empty_folder

if TYPE_CHECKING:
    from distributed import Client


def extract(
    model: str | list[str],
    corpus: Corpus,
    out: str | Path,
    *,
    revisions: tuple[str | None, ...] = (None,),
    settings: ExtractSettings = ExtractSettings(),
    name: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    client: Client | None = None,
    random_init: int | None = None,
) -> list[CheckpointReport]:
    """Extract pooled activations of ``corpus`` for each revision of ``model`` into the store
    ``out``.

    ``model`` may also be a list of local checkpoint directories (a training run's series), one
    checkpoint each, named after its directory. Rerunning after a crash completes the store
    (bit-identical to an uninterrupted run); rerunning a finished run does nothing. A store or
    checkpoint made from another corpus, model or settings is refused with the differences, unless
    ``overwrite``. With a ``dask.distributed`` ``client``, checkpoints and row blocks run as tasks
    on its workers (``lfe.engine.distributed``). ``random_init`` extracts the same architecture and
    tokenizer with weights drawn from that seed: the random-weights control, named as such.
    """
    settings = resolved(settings)
    if client is not None and settings.backend == "vllm":
        sentence = (
            "vllm runs in one process (vLLM spreads one model over GPUs itself: `tensor_parallel`"
            " N); extract without a Dask cluster (drop `workers` and `scheduler`)"
        )
        raise LfeError.of(Problem("backend", sentence))
    sources, names = checkpoint_sources(model, revisions, name, random_init)
    with writer_lock(out):
        new = not Path(out).exists() or is_empty_folder(Path(out))
        store = _open_store(Path(out), corpus, overwrite)
        try:
            if client is not None:
                return extract_on_cluster(
                    client,
                    store.path,
                    sources,
                    names,
                    corpus,
                    settings,
                    overwrite=overwrite,
                    progress=progress,
                )
            return [
                _extract_one(store, source, checkpoint_name, corpus, settings, overwrite, progress)
                for source, checkpoint_name in zip(sources, names)
            ]
        except BaseException:
            # nothing of value in it: a later run with another corpus must not trip on it
            if new and store.is_empty():
                ActivationStore.remove(store.path)
            raise


def _extract_one(
    store: ActivationStore,
    source: ModelSource,
    name: str,
    corpus: Corpus,
    settings: ExtractSettings,
    overwrite: bool,
    progress: bool,
) -> CheckpointReport:
    prepared = prepare_checkpoint(
        store, source, name, corpus, settings, overwrite=overwrite, load=load_for
    )
    if prepared is None:
        return CheckpointReport(name, CheckpointReport.COMPLETE)
    started = time.perf_counter()
    rows, tokens = run_blocks(prepared, progress=progress)
    return CheckpointReport(
        name, CheckpointReport.WRITTEN, rows, tokens, time.perf_counter() - started
    )


def load_for(source: ModelSource, settings: ExtractSettings) -> LoadedModel:
    """The transformers model of ``source``: on the settings' device, or on the CPU beside vLLM,
    which runs its own copy (this one gives the identity, the tokens and the geometry, and is
    refused if vLLM cannot run it, before anything is written)."""
    loaded = load(source, settings.dtype, model_device(settings.backend, settings.device))
    if settings.backend != "vllm":
        return loaded
    from lfe.models.vllm_engine import vllm_problem

    if problem := vllm_problem(source, loaded):
        raise ModelError.naming(f"{source.spec}: {problem}")
    return loaded


def _open_store(path: Path, corpus: Corpus, overwrite: bool) -> ActivationStore:
    if path.exists() and not is_empty_folder(path):
        if not os.access(path, os.W_OK):
            raise StoreError.naming(
                f"{path} is read-only for this user; fix its permissions or pass another `out`"
            )
        store = restored(path, corpus)
        stored = store.corpus
        if stored.fingerprint == corpus.fingerprint:
            return store
        if not overwrite:
            raise StoreError.naming(
                f"{path} holds activations of another corpus"
                f" ({_corpus_differences(stored, corpus.describe())}); pass the same corpus and"
                " selection, `overwrite` to replace the store, or another `out`"
            )
        ActivationStore.remove(path)
    return ActivationStore.create(
        path, corpus.describe(), corpus.row_langs(), corpus.row_sids(), corpus.texts
    )


def _corpus_differences(stored: CorpusDescription, given: CorpusDescription) -> str:
    """What differs between two corpus descriptions, most telling first; fingerprints shortened."""
    shown = {**given.to_dict(), "fingerprint": given.fingerprint[:12], "selection": {}}
    before = {**stored.to_dict(), "fingerprint": stored.fingerprint[:12], "selection": {}}
    differences = diff_nested(before, shown)
    selection = diff_nested(stored.selection.to_dict(), given.selection.to_dict(), "selection.")
    return "; ".join(part for part in (differences, selection) if part)
