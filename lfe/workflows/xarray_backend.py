"""lfe's stores as an xarray backend: ``xr.open_dataset("run.zarr", engine="lfe")`` is
``lfe.open("run.zarr")``.

Registered in ``pyproject.toml`` (``xarray.backends``), as xarray's own backends are; xarray imports
this module only when it looks for its backends, so xarray is a hard import here alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from xarray.backends import BackendEntrypoint

from lfe.workflows.views import open_store


class LfeBackendEntrypoint(BackendEntrypoint):
    description = (
        "lfe activation stores: pooled rows, analyses and their parameters, labelled (lfe.open)"
    )
    open_dataset_parameters = ("filename_or_obj", "drop_variables", "checkpoints")

    def open_dataset(
        self,
        filename_or_obj: Any,
        *,
        drop_variables: str | Iterable[str] | None = None,
        checkpoints: str | list[str] | None = None,
    ) -> Any:
        dataset = open_store(os.fspath(filename_or_obj), checkpoints)
        return dataset.drop_vars(drop_variables, errors="ignore") if drop_variables else dataset

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        """Only a Zarr group whose attributes are lfe's: other Zarr stores stay with xarray's zarr
        engine."""
        try:
            metadata = json.loads(
                (Path(os.fspath(filename_or_obj)) / "zarr.json").read_text(encoding="utf-8")
            )
        except (OSError, TypeError, ValueError):
            return False
        return isinstance(metadata, dict) and "lfe" in metadata.get("attributes", {})
