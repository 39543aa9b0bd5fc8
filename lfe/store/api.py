"""The activation store: a Zarr v3 group per run, one subgroup per checkpoint.

Layout::

    run.zarr/                   attrs["lfe"]: schema version, lfe version, corpus description
      corpus/lang, sid, text    [rows] str, corpus order (language, then sid)
      analysis/<name>/          similarity, z-scores, regions; attrs: metrics with their parameters
      ablation/<name>/          attrs: the last `lfe ablate` table of the checkpoint
      checkpoints/<name>/       attrs["lfe"]: layers, neurons per layer, block rows, dtype, and the
                                caller's metadata (model, settings, hashes)
        pooled   [rows, layers * neurons]   chunks (block rows, neurons of one layer), checksummed
        done     [blocks] bool              resume manifest: one chunk per block
        n_tokens [rows] int32               tokens pooled for each row
        norms    [rows] float64             each stored row's L2 norm over all layers

This module knows nothing of models: what a checkpoint's metadata means is the caller's business.
Opening is lazy: arrays are read only when indexed.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import Crc32cCodec, ZstdCodec

import lfe
from lfe.errors import StoreError

SCHEMA_VERSION = 1
STORE_DTYPES = ("float32", "float16")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Both keep a checksum per chunk, so corruption is detectable. Pooled activations compress poorly
# (zstd saved 6-12 percent in benchmarks/RESULTS.md) and zstd halves write throughput: "none" is
# for runs where the writer cannot keep up with the device.
COMPRESSIONS = {
    "zstd": (ZstdCodec(level=3, checksum=True),),
    "none": (Crc32cCodec(),),
}


def write_failure(error: OSError) -> str:
    """What an OS error while writing means for the user, and what to do."""
    hints = {
        errno.ENOSPC: "no space left on the device; free space, then rerun the same command: finished blocks are kept",
        errno.EDQUOT: "the disk quota is exhausted; free space, then rerun the same command: finished blocks are kept",
        errno.EROFS: "the store is on a read-only file system; pass an --out on a writable one",
        errno.EACCES: "no permission to write the store; fix its permissions or pass another --out",
    }
    return hints.get(error.errno, f"{error.strerror or error}; rerun the same command to resume")


def checkpoint_name_error(name: str) -> str | None:
    """Why ``name`` cannot name a checkpoint group, or None if it can."""
    if not _NAME.match(name):
        return f"checkpoint name {name!r} must be letters, digits, '.', '_' or '-' (pass --name)"
    return None


@dataclass
class Checkpoint:
    """One checkpoint's pooled rows and resume manifest (lazy Zarr arrays)."""

    name: str
    group: zarr.Group

    # Cached: each lookup would read the array's metadata from the store again.
    @cached_property
    def meta(self) -> dict:
        return dict(self.group.attrs["lfe"])

    # Chunks equal to the fill value are written anyway: a missing chunk file then always means
    # lost data (see blocks_missing_chunks), never a block that happened to be all zeros.
    @cached_property
    def pooled(self) -> zarr.Array:
        return self.group["pooled"].with_config({"write_empty_chunks": True})

    @cached_property
    def done(self) -> zarr.Array:
        return self.group["done"]

    @property
    def n_tokens(self) -> np.ndarray:
        return self.group["n_tokens"][:]

    @property
    def n_layers(self) -> int:
        return self.meta["n_layers"]

    @property
    def n_neurons(self) -> int:
        return self.meta["n_neurons"]

    @property
    def block_rows(self) -> int:
        return self.meta["block_rows"]

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

    @cached_property
    def norms(self) -> zarr.Array:
        return self.group["norms"].with_config({"write_empty_chunks": True})

    def write_block(self, block: int, rows: np.ndarray, norms: np.ndarray | None = None) -> None:
        """Write one block's rows and their L2 norms, then mark it done.

        The flag comes last, so a killed writer never leaves a block marked done that is not fully
        written. ``norms`` (of the rows as stored) are computed here when not given.
        """
        span = self.block_slice(block)
        if rows.shape != (span.stop - span.start, self.pooled.shape[1]):
            raise ValueError(f"block {block} needs shape {(span.stop - span.start, self.pooled.shape[1])}, got {rows.shape}")
        rows = rows.astype(self.pooled.dtype, copy=False)  # no copy when already the stored dtype
        if norms is None:
            norms = np.sqrt(np.einsum("ij,ij->i", rows, rows, dtype=np.float64))
        try:
            self.pooled[span, :] = rows
            self.norms[span] = norms
            self.done[block] = True
        except OSError as error:
            raise StoreError(f"cannot write block {block} of checkpoint {self.name!r}: {write_failure(error)}") from error

    def chunk_folder(self, array: str) -> Path:
        """Where ``array``'s chunk files lie (Zarr v3's default key encoding: ``c/<row block>/<column>``)."""
        return Path(self.group.store_path.store.root) / self.group.store_path.path / array / "c"

    def blocks_missing_chunks(self) -> list[int]:
        """Blocks marked done whose chunk files are not all there (a zero fill would hide them on read)."""
        done = np.flatnonzero(self.done[:])
        pooled, norms = self.chunk_folder("pooled"), self.chunk_folder("norms")
        missing = []
        for block in done:
            row = pooled / str(block)
            present = {entry.name for entry in os.scandir(row)} if row.is_dir() else set()
            if len(present) < self.n_layers or not (norms / str(block)).is_file():
                missing.append(int(block))
        return missing

    def mark_pending(self, blocks) -> None:
        """Clear the done flags of ``blocks``, so the next ``lfe extract`` recomputes exactly those."""
        for block in blocks:
            self.done[int(block)] = False

    def as_dask(self):
        """``pooled`` as a lazy dask array, one dask chunk per store chunk."""
        import dask.array as da

        return da.from_zarr(self.pooled)


class ActivationStore:
    """A run's store. Create with ``ActivationStore.create``, open with ``ActivationStore.open``."""

    def __init__(self, path: str | Path, group: zarr.Group):
        self.path = Path(path)
        self.group = group

    # -- opening and creating ------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, mode: str = "r") -> "ActivationStore":
        """Open an existing store; ``StoreError`` if it is missing, not lfe's, or from a newer lfe."""
        path = Path(path)
        if not path.exists():
            raise StoreError(f"store {path} does not exist; run `lfe extract` to create it")
        try:
            group = zarr.open_group(str(path), mode=mode)
        except Exception as error:  # zarr raises several types for a non-group path
            raise StoreError(f"{path} is not a Zarr group ({error}); is it an lfe store?") from None
        info = group.attrs.get("lfe")
        if not isinstance(info, dict) or "schema_version" not in info:
            raise StoreError(f"{path} is a Zarr group but not an lfe store (no lfe attributes)")
        if info["schema_version"] > SCHEMA_VERSION:
            raise StoreError(
                f"{path} was written by a newer lfe (store schema {info['schema_version']}, "
                f"this lfe {lfe.__version__} reads up to {SCHEMA_VERSION}); upgrade lfe"
            )
        return cls(path, group)

    @classmethod
    def create(cls, path: str | Path, corpus: dict, langs, sids, texts) -> "ActivationStore":
        """Create a store atomically: it is built beside ``path`` and renamed into place."""
        path = Path(path)
        if path.exists():
            raise StoreError(f"{path} already exists")
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
        try:
            group = zarr.open_group(str(staging), mode="w")
            corpus_group = group.create_group("corpus")
            for key, values in (("lang", langs), ("sid", sids), ("text", texts)):
                array = corpus_group.create_array(key, shape=(len(values),), dtype=str, chunks=(max(1, len(values)),))
                array[:] = np.asarray(values, dtype=object).astype(str)
            group.create_group("checkpoints")
            group.attrs["lfe"] = {"schema_version": SCHEMA_VERSION, "lfe_version": lfe.__version__, "corpus": corpus}
            os.rename(staging, path)
        except BaseException as error:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(error, OSError):
                raise StoreError(f"cannot create the store {path}: {write_failure(error)}") from error
            raise
        return cls.open(path, mode="r+")

    @staticmethod
    def remove(path: str | Path) -> None:
        """Delete a store, refusing anything that is not one (so --overwrite cannot eat other data)."""
        ActivationStore.open(path)
        shutil.rmtree(path)

    # -- the corpus ----------------------------------------------------------------------
    @property
    def info(self) -> dict:
        return dict(self.group.attrs["lfe"])

    @property
    def corpus(self) -> dict:
        return self.info["corpus"]

    def labels(self) -> tuple[np.ndarray, np.ndarray]:
        """(lang, sid) of every row, as object arrays of str in row order."""
        return self.group["corpus/lang"][:].astype(object), self.group["corpus/sid"][:].astype(object)

    def texts(self) -> np.ndarray:
        return self.group["corpus/text"][:]

    @property
    def n_rows(self) -> int:
        return self.group["corpus/lang"].shape[0]

    # -- checkpoints ---------------------------------------------------------------------
    def checkpoint_names(self) -> list[str]:
        """Names of fully created checkpoints (groups that carry their lfe attributes)."""
        checkpoints = self.group["checkpoints"]
        return sorted(name for name, sub in checkpoints.groups() if "lfe" in sub.attrs)

    def checkpoint(self, name: str) -> Checkpoint:
        if name not in self.checkpoint_names():
            raise StoreError(
                f"{self.path} has no checkpoint {name!r}; it has {', '.join(self.checkpoint_names()) or 'none'}"
            )
        return Checkpoint(name, self.group["checkpoints"][name])

    def create_checkpoint(
        self, name: str, n_layers: int, n_neurons: int, block_rows: int, dtype: str,
        n_tokens: np.ndarray, meta: dict, compression: str = "zstd",
    ) -> Checkpoint:
        """Create an empty checkpoint; its attributes are written last, marking it created."""
        if problem := checkpoint_name_error(name):
            raise StoreError(problem)
        if dtype not in STORE_DTYPES:
            raise StoreError(f"store dtype {dtype!r} is not one of {', '.join(STORE_DTYPES)}")
        if compression not in COMPRESSIONS:
            raise StoreError(f"compression {compression!r} is not one of {', '.join(COMPRESSIONS)}")
        try:
            return self._create_checkpoint(name, n_layers, n_neurons, block_rows, dtype, n_tokens, meta, compression)
        except OSError as error:  # a half-created checkpoint has no attributes: the next run recreates it
            raise StoreError(f"cannot create checkpoint {name!r} in {self.path}: {write_failure(error)}") from error

    def _create_checkpoint(self, name, n_layers, n_neurons, block_rows, dtype, n_tokens, meta, compression):
        checkpoints = self.group["checkpoints"]
        if name in checkpoints:
            del checkpoints[name]  # only a half-created group reaches here: it holds no data
        group = checkpoints.create_group(name)
        rows = self.n_rows
        group.create_array(
            "pooled", shape=(rows, n_layers * n_neurons), dtype=dtype, chunks=(block_rows, n_neurons),
            compressors=COMPRESSIONS[compression], fill_value=0,
        )
        n_blocks = -(-rows // block_rows)
        group.create_array("done", shape=(n_blocks,), dtype=bool, chunks=(1,), fill_value=False)
        group.create_array("n_tokens", shape=(rows,), dtype="int32", chunks=(rows,))[:] = n_tokens
        # each row's L2 norm over all layers (paper eq. 6), so analysis needs one pass, not two
        group.create_array("norms", shape=(rows,), dtype="float64", chunks=(block_rows,), fill_value=0)
        group.attrs["lfe"] = {
            "n_layers": n_layers, "n_neurons": n_neurons, "block_rows": block_rows, "store_dtype": dtype,
            "compression": compression, **meta,
        }
        return Checkpoint(name, group)

    def delete_checkpoint(self, name: str) -> None:
        del self.group["checkpoints"][name]

    def write_analysis(self, name: str, arrays: dict[str, np.ndarray], attrs: dict) -> zarr.Group:
        """Replace ``analysis/<name>`` with ``arrays`` and ``attrs`` (attributes written last)."""
        group = self._fresh_group("analysis", name)
        for key, values in arrays.items():
            values = np.asarray(values)
            group.create_array(key, shape=values.shape, dtype=values.dtype, chunks=values.shape or None,
                               compressors=COMPRESSIONS["zstd"])[...] = values
        group.attrs["lfe"] = attrs
        return group

    def analysis(self, name: str) -> zarr.Group:
        """The analysis group of checkpoint ``name``; ``StoreError`` if none was written."""
        group = self.group.get("analysis")
        if group is None or name not in group or "lfe" not in group[name].attrs:
            raise StoreError(f"{self.path} has no analysis of checkpoint {name!r}; run `lfe analyze {self.path}`")
        return group[name]

    def write_record(self, kind: str, name: str, attrs: dict) -> None:
        """Keep a small JSON record (say, an ablation table) about checkpoint ``name`` under ``kind/name``."""
        self._fresh_group(kind, name).attrs["lfe"] = attrs

    def _fresh_group(self, kind: str, name: str) -> zarr.Group:
        """An empty ``kind/name`` group, replacing what was there."""
        parent = self.group.require_group(kind)
        if name in parent:
            del parent[name]
        return parent.create_group(name)

    def record(self, kind: str, name: str) -> dict | None:
        """The record ``write_record`` kept, or None."""
        group = self.group.get(kind)
        if group is None or name not in group or "lfe" not in group[name].attrs:
            return None
        return dict(group[name].attrs["lfe"])

    def describe(self) -> dict:
        """Everything ``lfe info`` shows, JSON-ready."""
        checkpoints = {}
        for name in self.checkpoint_names():
            checkpoint = self.checkpoint(name)
            done = int(checkpoint.done[:].sum())
            checkpoints[name] = {
                "shape": list(checkpoint.pooled.shape),
                "chunks": list(checkpoint.pooled.chunks),
                "dtype": str(checkpoint.pooled.dtype),
                "blocks_done": done,
                "blocks": checkpoint.n_blocks,
                "complete": done == checkpoint.n_blocks,
                **checkpoint.meta,
            }
        return {"path": str(self.path), **self.info, "checkpoints": checkpoints}
