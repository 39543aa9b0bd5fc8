"""Where a workflow writes its files when no ``--out`` is given: beside the store."""

from __future__ import annotations

from pathlib import Path


def beside(store: str | Path, suffix: str) -> Path:
    """``run.zarr`` -> ``run-<suffix>`` in the same folder (``analysis``, ``ablation``, ``evolution``)."""
    store = Path(store).resolve() if str(store) in (".", "") else Path(store)
    return store.with_name(store.name.removesuffix(".zarr") + f"-{suffix}")
