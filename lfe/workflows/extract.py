"""``lfe extract`` as a library call: a corpus file and a model (or a series of checkpoint folders)
into a store.

What the command adds to ``lfe.engine.extract``: the corpus read and selected from its file, the
checkpoint folders a glob names, and the Dask cluster when one is asked for.
"""

from __future__ import annotations

from pathlib import Path

from lfe.corpus import read_corpus
from lfe.engine import CheckpointReport, ExtractSettings, extract
from lfe.errors import LfeError
from lfe.log import logger
from lfe.models.loading import checkpoint_dirs
from lfe.workflows.cluster import cluster


def extract_corpus(
    model: str | None,
    corpus: str | Path,
    out: str | Path,
    settings: ExtractSettings,
    *,
    pattern: str | None = None,
    langs: tuple[str, ...] | None = None,
    samples: int | None = None,
    seed: int | None = None,
    drop_incomplete: bool = False,
    revisions: tuple[str, ...] = (),
    name: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    random_init: int | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
) -> list[CheckpointReport]:
    """Extract ``model`` (or every checkpoint folder ``pattern`` matches) over the corpus file into
    ``out``."""
    if (model is None) == (pattern is None):
        raise LfeError.naming("pass `model` or `pattern` (one of them)")
    models: str | list[str] = checkpoint_dirs(pattern) if pattern is not None else str(model)
    rows = read_corpus(
        corpus,
        langs=list(langs) if langs else None,
        samples=samples,
        seed=seed,
        drop_incomplete=drop_incomplete,
    )
    logger.info(
        f"corpus: {len(rows.langs)} languages x {rows.n_sids} sids = {len(rows)} rows "
        f"(fingerprint {rows.fingerprint[:12]})"
    )
    with cluster(scheduler, workers) as client:
        return extract(
            models,
            rows,
            out,
            revisions=revisions or (None,),
            settings=settings,
            name=name,
            overwrite=overwrite,
            progress=progress,
            client=client,
            random_init=random_init,
        )
