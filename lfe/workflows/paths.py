"""Where a workflow writes its files when no ``--out`` is given: beside the store."""

from __future__ import annotations

import os
from pathlib import Path

from lfe.log import logger
from lfe.store import ActivationStore


def beside(store: str | Path, suffix: str) -> Path:
    """``run.zarr`` -> ``run-<suffix>`` in the same folder (``analysis``, ``ablation``,
    ``evolution``)."""
    store = Path(store).resolve() if str(store) in (".", "") else Path(store)
    return store.with_name(store.name.removesuffix(".zarr") + f"-{suffix}")


def writable_store(store: str | Path, what: str, folder: Path) -> ActivationStore | None:
    """``store`` opened to keep ``what`` in it, or None (with a warning) where it is read-only for
    this user."""
    if os.access(store, os.W_OK):
        return ActivationStore.open(store, mode="r+")
    logger.warning(
        f"{store} is read-only: the {what} is written to {folder} only, not kept in the store"
    )
    return None
