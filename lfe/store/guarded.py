"""Reads that name their repair: damaged metadata or chunks become one ``StoreError``, also when the
read happens later, lazily (``lfe.open``'s Dask arrays)."""

from __future__ import annotations

from contextlib import AbstractContextManager, contextmanager
from typing import Any, Callable, Iterator

import zarr

from lfe.errors import DamagedStoreError, StoreError


@contextmanager
def damage_named(what: str, fix: str) -> Iterator[None]:
    """Reading ``what``: any failure becomes ``DamagedStoreError("<what> is damaged (<why>)", fix)``
    (one already named passes unchanged)."""
    try:
        yield
    except DamagedStoreError:
        raise
    except Exception as error:  # noqa: BLE001 - JSON, metadata validation, each codec: every type a damaged file raises
        why = str(error) if isinstance(error, StoreError) else type(error).__name__
        raise DamagedStoreError(f"{what} is damaged ({why})", fix) from None


class GuardedArray:
    """A Zarr array whose reads happen inside ``guard`` (a ``damage_named`` context); everything
    else is the array's own."""

    def __init__(
        self, array: zarr.Array, guard: Callable[[], AbstractContextManager[None]]
    ) -> None:
        self.array, self.guard = array, guard

    def __getitem__(self, key: Any) -> Any:
        with self.guard():
            return self.array[key]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.array, name)

    def as_dask(self, name: str) -> Any:
        """A lazy Dask array of it (one Dask chunk per Zarr chunk) named ``name``, a key unique to
        this array."""
        import dask.array as da

        return da.from_array(self, chunks=self.array.chunks, name=name, asarray=True)
