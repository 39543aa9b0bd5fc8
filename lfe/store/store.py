"""The activation store: a Zarr v3 group per run, one subgroup per checkpoint.

Layout::

    run.zarr/                   attrs["lfe"]: schema version, lfe version, corpus description
      corpus/lang, sid, text    [rows] str, corpus order (language, then sid)
      analysis/<name>/          similarity, zscores, regions, key_neurons_per_layer;
                                attrs: ``AnalysisRecord`` (the numbers with their parameters)
      ablation/<name>/          attrs: ``AblationTable`` of the last ``lfe ablate``
      checkpoints/<name>/       attrs: ``CheckpointMeta`` (shape, model, settings, hashes)
        pooled   [rows, layers * neurons]   chunks (block rows, neurons of one layer), checksummed
        done     [blocks] bool              resume manifest: one chunk per block
        n_tokens [rows] int32               tokens pooled for each row
        norms    [rows] float64             each stored row's L2 norm over all layers

This module knows nothing of models: what a checkpoint's metadata means is the caller's business.
It hands out records (``lfe.records``) and numpy or Zarr arrays, never raw groups. Opening is
lazy: arrays are read only when indexed.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np
import zarr

import lfe
from lfe.errors import StoreError
from lfe.records import AblationTable, AnalysisArrays, AnalysisRecord, CheckpointMeta, Record
from lfe.store.checkpoint import Checkpoint
from lfe.store.schema import CODECS, SCHEMA_VERSION, checkpoint_name_error, write_failure

ANALYSIS, ABLATION = "analysis", "ablation"  # the groups of records kept per checkpoint
MADE_BY = {ANALYSIS: "lfe analyze", ABLATION: "lfe ablate"}


def _parses(path: Path) -> bool:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def is_empty_folder(path: Path) -> bool:
    """A folder with nothing in it: a place a new store may take (``mkdir out.zarr`` before the run)."""
    return path.is_dir() and not any(path.iterdir())


class ActivationStore:
    """A run's store. Create with ``ActivationStore.create``, open with ``ActivationStore.open``."""

    def __init__(self, path: str | Path, group: zarr.Group):
        self.path = Path(path)
        self._group = group

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
        path = Path(os.path.abspath(path))  # "." has no name to build beside
        if path.exists() and not is_empty_folder(path):
            raise StoreError(f"{path} already exists")
        if path == Path.cwd():  # it is renamed into place: the shell would be left in a deleted folder
            raise StoreError(f"{path} is the folder you are in; name a new folder for the store, e.g. --out run.zarr")
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

    def is_empty(self) -> bool:
        """Whether the store holds no checkpoint, not even a half-created one."""
        return not self.checkpoint_names() and not self.half_created_checkpoints()

    @staticmethod
    def remove(path: str | Path) -> None:
        """Delete a store, refusing anything that is not one (so --overwrite cannot eat other data)."""
        ActivationStore.open(path)
        shutil.rmtree(path)

    # -- the corpus ----------------------------------------------------------------------
    @property
    def info(self) -> dict:
        return dict(self._group.attrs["lfe"])

    @property
    def corpus(self) -> dict:
        return self.info["corpus"]

    def labels(self) -> tuple[np.ndarray, np.ndarray]:
        """(lang, sid) of every row, as object arrays of str in row order."""
        return self._read("corpus/lang").astype(object), self._read("corpus/sid").astype(object)

    def texts(self) -> np.ndarray:
        return self._read("corpus/text")

    def _read(self, key: str) -> np.ndarray:
        return np.asarray(self._group[key][:])

    @property
    def n_rows(self) -> int:
        return self._group["corpus/lang"].shape[0]

    # -- checkpoints ---------------------------------------------------------------------
    def _checkpoints(self) -> zarr.Group:
        return self._group["checkpoints"]

    def _checkpoint_groups(self) -> list[tuple[str, zarr.Group]]:
        try:
            return list(self._checkpoints().groups())
        except (ValueError, KeyError, OSError) as error:  # a damaged zarr.json: JSONDecodeError is a ValueError
            damaged = [folder.name for folder in sorted((self.path / "checkpoints").iterdir()) if folder.is_dir()
                       and not _parses(folder / "zarr.json")]
            raise StoreError(f"the checkpoints of {self.path} cannot be listed ({type(error).__name__}): the metadata "
                             f"of {', '.join(damaged) or 'a checkpoint'} is damaged; remove "
                             + (", ".join(str(self.path / "checkpoints" / name) for name in damaged) or "its folder")
                             + " and rerun the same `lfe extract`, or extract into a new --out") from None

    def checkpoint_names(self) -> list[str]:
        """Names of fully created checkpoints (groups that carry their lfe attributes)."""
        return sorted(name for name, sub in self._checkpoint_groups() if "lfe" in sub.attrs)

    def half_created_checkpoints(self) -> list[str]:
        """Checkpoint groups whose attributes were never written (a run stopped while creating them)."""
        return sorted(name for name, sub in self._checkpoint_groups() if "lfe" not in sub.attrs)

    def checkpoint(self, name: str) -> Checkpoint:
        if name not in self.checkpoint_names():
            raise StoreError(
                f"{self.path} has no checkpoint {name!r}; it has {', '.join(self.checkpoint_names()) or 'none'}"
            )
        return Checkpoint(name, self._checkpoints()[name])

    def create_checkpoint(self, name: str, meta: CheckpointMeta, n_tokens: np.ndarray) -> Checkpoint:
        """Create an empty checkpoint shaped by ``meta``; its attributes are written last, marking it created."""
        if problem := checkpoint_name_error(name):
            raise StoreError(problem)
        try:
            return self._create_checkpoint(name, meta, n_tokens)
        except OSError as error:  # a half-created checkpoint has no attributes: the next run recreates it
            raise StoreError(f"cannot create checkpoint {name!r} in {self.path}: {write_failure(error)}") from error

    def _create_checkpoint(self, name: str, meta: CheckpointMeta, n_tokens: np.ndarray) -> Checkpoint:
        checkpoints = self._checkpoints()
        if name in checkpoints:
            del checkpoints[name]  # only a half-created group reaches here: it holds no data
        group = checkpoints.create_group(name)
        rows, block_rows = self.n_rows, meta.block_rows
        group.create_array(
            "pooled", shape=(rows, meta.n_layers * meta.n_neurons), dtype=meta.store_dtype,
            chunks=(block_rows, meta.n_neurons), compressors=CODECS[meta.compression], fill_value=0,
        )
        group.create_array("done", shape=(-(-rows // block_rows),), dtype=bool, chunks=(1,), fill_value=False)
        group.create_array("n_tokens", shape=(rows,), dtype="int32", chunks=(rows,))[:] = n_tokens
        # each row's L2 norm over all layers (paper eq. 6), so analysis needs one pass, not two
        group.create_array("norms", shape=(rows,), dtype="float64", chunks=(block_rows,), fill_value=0)
        group.attrs["lfe"] = meta.to_dict()
        return Checkpoint(name, group)

    def delete_checkpoint(self, name: str) -> None:
        del self._checkpoints()[name]

    # -- records about a checkpoint ------------------------------------------------------
    def write_analysis(self, name: str, record: AnalysisRecord, arrays: AnalysisArrays) -> None:
        """Replace ``analysis/<name>`` with ``arrays`` and ``record`` (the record written last)."""
        group = self._fresh_group(ANALYSIS, name)
        for key, values in arrays.to_dict().items():
            values = np.asarray(values)
            group.create_array(key, shape=values.shape, dtype=values.dtype, chunks=values.shape or None,
                               compressors=CODECS["zstd"])[...] = values
        group.attrs["lfe"] = record.to_dict()

    def analysis(self, name: str) -> AnalysisRecord:
        """The analysis record of checkpoint ``name``; ``StoreError`` if none was written."""
        return AnalysisRecord.from_dict(self._required_attrs(ANALYSIS, name))

    def analysis_arrays(self, name: str) -> AnalysisArrays:
        """The arrays of checkpoint ``name``'s analysis, read into numpy."""
        self._required_attrs(ANALYSIS, name)
        group = self._group[ANALYSIS][name]
        return AnalysisArrays(**{key: np.asarray(group[key][:]) for key in ("similarity", "zscores", "regions",
                                                                             "key_neurons_per_layer")})

    def has_analysis(self, name: str) -> bool:
        return self._record_attrs(ANALYSIS, name) is not None

    def write_ablation(self, name: str, table: AblationTable) -> None:
        """Keep ``table`` as checkpoint ``name``'s ablation record, replacing the last one."""
        self._write_record(ABLATION, name, table)

    def ablation(self, name: str) -> AblationTable | None:
        """The last ablation table of checkpoint ``name``, or None."""
        attrs = self._record_attrs(ABLATION, name)
        return None if attrs is None else AblationTable.from_dict(attrs)

    def _write_record(self, kind: str, name: str, record: Record) -> None:
        self._fresh_group(kind, name).attrs["lfe"] = record.to_dict()

    def _record_attrs(self, kind: str, name: str) -> dict | None:
        group = self._group.get(kind)
        if group is None or name not in group or "lfe" not in group[name].attrs:
            return None
        return dict(group[name].attrs["lfe"])

    def _required_attrs(self, kind: str, name: str) -> dict:
        attrs = self._record_attrs(kind, name)
        if attrs is None:
            raise StoreError(f"{self.path} has no {kind} of checkpoint {name!r}; run `{MADE_BY[kind]} {self.path}`")
        return attrs

    def _fresh_group(self, kind: str, name: str) -> zarr.Group:
        """An empty ``kind/name`` group, replacing what was there."""
        parent = self._group.require_group(kind)
        if name in parent:
            del parent[name]
        return parent.create_group(name)

    def prepare_records(self) -> None:
        """Create the groups that records go into, so tasks on a cluster never race to create them."""
        self._group.require_group(ANALYSIS)

    def describe(self) -> dict:
        """Everything ``lfe info`` shows, JSON-ready."""
        checkpoints = {}
        for name in self.checkpoint_names():
            checkpoint = self.checkpoint(name)
            done = int(checkpoint.done[:].sum())
            missing = checkpoint.blocks_missing_chunks()  # done, but their files are gone: not complete
            ablation = self.ablation(name)
            checkpoints[name] = {
                "shape": list(checkpoint.pooled.shape),
                "chunks": list(checkpoint.pooled.chunks),
                "dtype": str(checkpoint.pooled.dtype),
                "blocks_done": done,
                "blocks": checkpoint.n_blocks,
                "blocks_missing_chunks": missing,
                "complete": done == checkpoint.n_blocks and not missing,
                "analysis": self.analysis(name).params.to_dict() if self.has_analysis(name) else None,
                "ablation": ablation.params.to_dict() if ablation is not None else None,
                **checkpoint.meta.to_dict(),
            }
        return {"path": str(self.path), **self.info, "checkpoints": checkpoints}
