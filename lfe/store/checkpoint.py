"""One checkpoint's pooled rows, their norms and the resume manifest (lazy Zarr arrays)."""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import zarr

from lfe.errors import StoreError
from lfe.records import CheckpointMeta
from lfe.store.chunks import write_row_block
from lfe.store.schema import write_failure

if TYPE_CHECKING:
    from typing import Iterable

    import dask.array as da


class Checkpoint:
    """``checkpoints/<name>`` of a store: rows [samples, layers x neurons] in row blocks, one chunk
    per layer.

    Opening is lazy: arrays are read only when indexed.
    """

    def __init__(self, name: str, group: zarr.Group) -> None:
        self.name = name
        self._group = group

    # Cached: each lookup would read the array's metadata from the store again.
    @cached_property
    def meta(self) -> CheckpointMeta:
        return CheckpointMeta.from_dict(dict(self._group.attrs["lfe"]))

    # Chunks equal to the fill value are written anyway: a missing chunk file then always means
    # lost data (see blocks_missing_chunks), never a block that happened to be all zeros.
    @cached_property
    def pooled(self) -> zarr.Array:
        return self._array("pooled").with_config({"write_empty_chunks": True})

    @cached_property
    def norms(self) -> zarr.Array:
        """[rows] float64: each stored row's L2 norm over all layers (paper eq. 6)."""
        return self._array("norms").with_config({"write_empty_chunks": True})

    @cached_property
    def positive(self) -> zarr.Array | None:
        """[rows, layers x neurons] uint32: each row's pooled tokens where the neuron fired
        (``--stats positive``), chunked as ``pooled``; None when the checkpoint was extracted
        without it."""
        if "positive" not in self.meta.settings.stats:
            return None
        return self._array("positive").with_config({"write_empty_chunks": True})

    @property
    def per_neuron_arrays(self) -> tuple[str, ...]:
        """The arrays with a value per row and neuron, chunked (row block, layer): pooled, and
        positive if kept."""
        return ("pooled", "positive") if "positive" in self.meta.settings.stats else ("pooled",)

    @cached_property
    def done(self) -> zarr.Array:
        """[blocks] bool: the resume manifest, one chunk per block."""
        return self._array("done")

    @property
    def n_tokens(self) -> np.ndarray:
        """[rows] int32: tokens pooled for each row."""
        return self._array("n_tokens")[:]

    def _array(self, key: str) -> zarr.Array:
        array = self._group[key]
        assert isinstance(array, zarr.Array)
        return array

    def small_arrays_damage(self) -> str | None:
        """What is unreadable among the checkpoint's metadata, manifest, token counts and norms;
        None if nothing.

        They are small (a number per row or block), so reading them all is cheap; the pooled chunks
        are read only by ``lfe check --deep``.
        """
        part = "metadata"
        try:
            self.meta.to_dict()
            for part in (*self.per_neuron_arrays, "norms", "n_tokens", "done"):
                array = self._array(part)
                if part == "n_tokens" and (array[:] <= 0).any():
                    return (
                        "its n_tokens array has rows with no tokens (a lost chunk reads as zeros)"
                    )
                # the per-neuron arrays are read by check --deep
                if part not in ("pooled", "positive"):
                    array[:]
        except Exception as error:  # noqa: BLE001 - JSON, metadata validation, each codec: every type a damaged file raises
            return (
                f"its {part}{' array' if part != 'metadata' else ''} cannot be read"
                f" ({type(error).__name__})"
            )
        return None

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape of each of the checkpoint's arrays, as stored."""
        return {key: self._array(key).shape for key in ("pooled", "norms", "n_tokens", "done")}

    @property
    def n_layers(self) -> int:
        return self.meta.n_layers

    @property
    def n_neurons(self) -> int:
        return self.meta.n_neurons

    @property
    def block_rows(self) -> int:
        return self.meta.block_rows

    @property
    def n_blocks(self) -> int:
        return self.done.shape[0]

    def block_slice(self, block: int) -> slice:
        rows = self.pooled.shape[0]
        return slice(block * self.block_rows, min((block + 1) * self.block_rows, rows))

    def pending_blocks(self) -> list[int]:
        return [int(b) for b in np.flatnonzero(~self.done[:])]

    @property
    def complete(self) -> bool:
        return bool(self.done[:].all())

    def write_block(
        self,
        block: int,
        rows: np.ndarray,
        norms: np.ndarray | None = None,
        positive: np.ndarray | None = None,
    ) -> None:
        """Write one block's rows, their L2 norms (and positive counts, if kept), then mark it done.

        The flag comes last, so a killed writer never leaves a block marked done that is not fully
        written. ``norms`` (of the rows as stored) are computed here when not given.
        """
        span = self.block_slice(block)
        if rows.shape != (span.stop - span.start, self.pooled.shape[1]):
            raise ValueError(
                f"block {block} needs shape {(span.stop - span.start, self.pooled.shape[1])}, got"
                f" {rows.shape}"
            )
        rows = rows.astype(self.pooled.dtype, copy=False)  # no copy when already the stored dtype
        if norms is None:
            norms = np.sqrt(np.einsum("ij,ij->i", rows, rows, dtype=np.float64))
        try:
            # every chunk of the block at once, in threads
            write_row_block(self.pooled, block, rows)
            self.norms[span] = norms
            if self.positive is not None:
                if positive is None:
                    raise ValueError(
                        f"checkpoint {self.name!r} keeps positive counts: block {block} needs them"
                    )
                write_row_block(self.positive, block, positive)
            self.done[block] = True
        except OSError as error:
            raise StoreError(
                f"cannot write block {block} of checkpoint {self.name!r}: {write_failure(error)}"
            ) from error

    def chunk_folder(self, array: str) -> Path:
        """Where ``array``'s chunk files lie (Zarr v3's default key encoding: ``c/<row
        block>/<column>``)."""
        store_path = self._group.store_path
        return Path(store_path.store.root) / store_path.path / array / "c"

    def blocks_missing_chunks(self) -> list[int]:
        """Blocks marked done whose chunk files are not all there (a zero fill would hide them on
        read)."""
        done = np.flatnonzero(self.done[:])
        per_layer = [self.chunk_folder(array) for array in self.per_neuron_arrays]
        norms = self.chunk_folder("norms")
        missing = []
        for block in done:
            rows = [folder / str(block) for folder in per_layer]
            # chunk files only: a killed write can leave a temporary '<name>.<hex>.partial' beside
            # them
            present = [
                (
                    {entry.name for entry in os.scandir(row) if entry.name.isdigit()}
                    if row.is_dir()
                    else set()
                )
                for row in rows
            ]
            if (
                any(len(names) < self.n_layers for names in present)
                or not (norms / str(block)).is_file()
            ):
                missing.append(int(block))
        return missing

    def mark_pending(self, blocks: Iterable[int]) -> None:
        """Clear the done flags of ``blocks``, so the next ``lfe extract`` recomputes exactly
        those."""
        for block in blocks:
            self.done[int(block)] = False

    def as_dask(self, array: str = "pooled") -> da.Array:
        """``array`` (pooled, or positive if kept) as a lazy dask array, one dask chunk per store
        chunk."""
        import dask.array as da

        return da.from_zarr(self._array(array))
