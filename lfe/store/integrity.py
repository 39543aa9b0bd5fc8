"""Repairs of a store's own metadata and corpus arrays, from the corpus a rerun of ``lfe extract``
brings.

Only when the store proves to be of that corpus: its corpus arrays hash to it (metadata damaged), or
its metadata records it (corpus arrays damaged). Checkpoints are never touched here: their own
damage is found and recomputed block by block (``lfe check``, ``lfe extract``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

from lfe.corpus import Corpus
from lfe.corpus.corpus import rows_fingerprint
from lfe.errors import StoreError
from lfe.log import logger
from lfe.records import CorpusDescription
from lfe.store.schema import SCHEMA_VERSION
from lfe.store.store import ActivationStore
from lfe.version import __version__


def restored(path: Path, corpus: Corpus) -> ActivationStore:
    """The store at ``path`` (opened r+), its own metadata and corpus arrays rewritten from
    ``corpus`` where damaged."""
    try:
        store = ActivationStore.open(path, mode="r+")
    except StoreError:
        if not (path / "corpus").is_dir() or stored_rows_fingerprint(path) != corpus.fingerprint:
            raise
        write_metadata(path, corpus.describe())
        logger.warning(
            f"{path}: the store's damaged metadata was rewritten from the corpus (its rows match)"
        )
        store = ActivationStore.open(path, mode="r+")
    if (
        store.corpus.fingerprint == corpus.fingerprint
        and stored_rows_fingerprint(path) != corpus.fingerprint
    ):
        store.write_corpus(corpus.row_langs(), corpus.row_sids(), corpus.texts)
        logger.warning(f"{path}: the store's damaged corpus arrays were rewritten from the corpus")
    return store


def write_metadata(path: str | Path, corpus: CorpusDescription) -> None:
    """Rewrite the store's own metadata (the lfe attributes of its root group), leaving every array
    alone."""
    (Path(path) / "zarr.json").unlink(missing_ok=True)
    group = zarr.open_group(str(path), mode="a")
    group.attrs["lfe"] = {
        "schema_version": SCHEMA_VERSION,
        "lfe_version": __version__,
        "corpus": corpus.to_dict(),
    }


def stored_rows_fingerprint(path: str | Path) -> str | None:
    """The fingerprint of the rows the corpus arrays at ``path`` hold, read even when the store's
    own metadata is damaged; None if they cannot be read."""
    try:
        group = zarr.open_group(str(Path(path) / "corpus"), mode="r")
        # read here, in the try
        rows = [
            [str(value) for value in np.asarray(group[key][:])] for key in ("lang", "sid", "text")
        ]
    except Exception:  # noqa: BLE001 - damaged metadata or chunks: every codec raises its own type
        return None
    return rows_fingerprint(*rows)
