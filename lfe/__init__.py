"""lfe, the Lingua Franca Engine: where does a multilingual model keep each language?

The package is layered: ``lfe.records`` (typed records), ``lfe.corpus`` and ``lfe.store`` know
nothing of models; ``lfe.analysis`` works on arrays only; ``lfe.models`` loads models and knows
their families, ``lfe.engine`` extracts with them and ``lfe.intervene`` deactivates their neurons;
``lfe.workflows`` wires these into the library call behind each command, ``lfe.report`` writes what
a person reads, and ``lfe.cli`` is a thin shell over the workflows. Importing ``lfe`` imports none
of torch, transformers or zarr.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lfe.version import __version__

if TYPE_CHECKING:  # the optional lfe[xarray] extra: imported only when these are called
    import pandas
    import xarray

__all__ = ["__version__", "open", "tables"]


def open(path: str | Path, checkpoints: str | list[str] | None = None) -> xarray.Dataset:  # noqa: A001 (as zarr.open, the main door)
    """A store as a labelled, lazy ``xarray.Dataset`` (``lfe.workflows.views.open_store``; needs
    lfe[xarray])."""
    from lfe.workflows.views import open_store

    return open_store(path, checkpoints)


def tables(path: str | Path) -> dict[str, pandas.DataFrame]:
    """A store's analyses as pandas DataFrames (``lfe.workflows.views.result_tables``; needs
    lfe[xarray])."""
    from lfe.workflows.views import result_tables

    return result_tables(path)
