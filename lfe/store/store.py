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
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import zarr

from lfe.corpus.corpus import rows_fingerprint
from lfe.errors import DamagedStoreError, StoreError
from lfe.log import logger
from lfe.records import CheckpointMeta, CheckpointSummary, CorpusDescription, StoreSummary
from lfe.store.checkpoint import Checkpoint
from lfe.store.lock import holder
from lfe.store.results import ABLATION, ANALYSIS, STEERING, CheckpointRecords
from lfe.store.schema import (
    CODECS,
    DIMENSIONS,
    SCHEMA_VERSION,
    checkpoint_name_error,
    write_failure,
)
from lfe.version import __version__

if TYPE_CHECKING:
    from typing import Sequence


def _parses(path: Path) -> bool:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def is_empty_folder(path: Path) -> bool:
    """A folder with nothing in it: a place a new store may take (``mkdir out.zarr`` before the
    run)."""
    return path.is_dir() and not any(path.iterdir())


class ActivationStore(CheckpointRecords):
    """A run's store. Create with ``ActivationStore.create``, open with ``ActivationStore.open``."""

    def __init__(self, path: str | Path, group: zarr.Group) -> None:
        self.path = Path(path)
        self._group = group

    # -- opening and creating ------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, mode: str = "r") -> "ActivationStore":
        """Open an existing store; ``StoreError`` if it is missing, not lfe's, or from a newer
        lfe."""
        path = Path(path)
        if not path.exists():
            raise StoreError(f"store {path} does not exist; run `lfe extract` to create it")
        try:
            group = zarr.open_group(str(path), mode=mode)
        except Exception as error:  # noqa: BLE001 - zarr raises several types for a non-group path
            # lfe's layout, its own metadata gone
            if (path / "corpus").is_dir() and (path / "checkpoints").is_dir():
                raise StoreError(
                    f"the store's own metadata ({path / 'zarr.json'}) is damaged; rerun the same "
                    "`lfe extract` with the same corpus: it rewrites it from the corpus"
                ) from None
            raise StoreError(f"{path} is not a Zarr group ({error}); is it an lfe store?") from None
        info = group.attrs.get("lfe")
        if not isinstance(info, dict) or "schema_version" not in info:
            raise StoreError(f"{path} is a Zarr group but not an lfe store (no lfe attributes)")
        if info["schema_version"] > SCHEMA_VERSION:
            raise StoreError(
                f"{path} was written by a newer lfe (store schema {info['schema_version']}, "
                f"this lfe {__version__} reads up to {SCHEMA_VERSION}); upgrade lfe"
            )
        return cls(path, group)

    @classmethod
    def create(
        cls,
        path: str | Path,
        corpus: CorpusDescription,
        langs: Sequence[str],
        sids: Sequence[str],
        texts: Sequence[str],
    ) -> "ActivationStore":
        """Create a store atomically: it is built beside ``path`` and renamed into place."""
        path = Path(os.path.abspath(path))  # "." has no name to build beside
        if path.exists() and not is_empty_folder(path):
            raise StoreError(f"{path} already exists")
        # every read checks it (damage)
        if corpus.fingerprint != rows_fingerprint(langs, sids, texts):
            raise StoreError(
                "the corpus description's fingerprint is not the rows'"
                " (lfe.corpus.corpus.rows_fingerprint of langs, sids, texts); describe the corpus"
                " these rows come from"
            )
        # it is renamed into place: the shell would be left in a deleted folder
        if path == Path.cwd():
            raise StoreError.naming(
                f"{path} is the folder you are in; name a new folder for the store, e.g. `out`"
                " run.zarr"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")
        try:
            group = zarr.open_group(str(staging), mode="w")
            cls(staging, group).write_corpus(langs, sids, texts)
            group.create_group("checkpoints")
            group.attrs["lfe"] = {
                "schema_version": SCHEMA_VERSION,
                "lfe_version": __version__,
                "corpus": corpus.to_dict(),
            }
            os.rename(staging, path)
        except BaseException as error:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(error, OSError):
                raise StoreError(
                    f"cannot create the store {path}: {write_failure(error)}"
                ) from error
            raise
        return cls.open(path, mode="r+")

    def write_corpus(self, langs: Sequence[str], sids: Sequence[str], texts: Sequence[str]) -> None:
        """(Re)write the corpus arrays: the rows' languages, sids and texts, in row order."""
        shutil.rmtree(self.path / "corpus", ignore_errors=True)
        corpus_group = self._group.create_group("corpus", overwrite=True)
        for key, values in (("lang", langs), ("sid", sids), ("text", texts)):
            array = corpus_group.create_array(
                key,
                shape=(len(values),),
                dtype=str,
                chunks=(max(1, len(values)),),
                dimension_names=DIMENSIONS["corpus"],
            )
            array[:] = np.asarray(values, dtype=object).astype(str)

    def is_empty(self) -> bool:
        """Whether the store holds no checkpoint, not even a half-created one."""
        return not self.checkpoint_names() and not self.half_created_checkpoints()

    @staticmethod
    def remove(path: str | Path) -> None:
        """Delete a store, refusing anything that is not one (so --overwrite cannot eat other
        data)."""
        ActivationStore.open(path)
        shutil.rmtree(path)

    # -- the corpus ----------------------------------------------------------------------
    @property
    def info(self) -> dict:
        return dict(self._group.attrs["lfe"])

    @property
    def corpus(self) -> CorpusDescription:
        """What the store recorded of its corpus (empty where its metadata lost it)."""
        recorded = self.info.get("corpus")
        return CorpusDescription.from_dict(recorded if isinstance(recorded, dict) else {})

    def labels(self) -> tuple[np.ndarray, np.ndarray]:
        """(lang, sid) of every row, as object arrays of str in row order."""
        langs, sids, _ = self._corpus_rows
        return langs.astype(object), sids.astype(object)

    def texts(self) -> np.ndarray:
        return self._corpus_rows[2]

    @cached_property
    def _corpus_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The corpus arrays, checked against the fingerprint the store recorded (a lost chunk reads
        as '')."""
        try:
            rows = tuple(
                np.asarray(self._group[f"corpus/{key}"][:]) for key in ("lang", "sid", "text")
            )
        except Exception as error:  # noqa: BLE001 - JSON, metadata validation, each codec: every type a damaged file raises
            raise self._damaged_corpus(type(error).__name__) from None
        if rows_fingerprint(*(array.tolist() for array in rows)) != self.corpus.fingerprint:
            raise self._damaged_corpus("they no longer hash to the recorded fingerprint")
        return rows[0], rows[1], rows[2]

    def _damaged_corpus(self, why: str) -> DamagedStoreError:
        return DamagedStoreError(
            f"the corpus arrays of {self.path} are damaged ({why})",
            "rerun the same `lfe extract` with the same corpus: it rewrites them",
        )

    @property
    def n_rows(self) -> int:
        return len(self._corpus_rows[0])

    # -- checkpoints ---------------------------------------------------------------------
    def _checkpoints(self) -> zarr.Group:
        if self._group.read_only:
            try:
                return self._group["checkpoints"]
            except Exception:  # noqa: BLE001 - JSON, metadata validation: every type a damaged zarr.json raises
                raise StoreError(
                    f"the checkpoints group of {self.path} is damaged (its zarr.json); rerun the"
                    " same `lfe extract`: it rewrites it"
                ) from None
        return self._required_group("checkpoints")

    def _checkpoint_groups(self) -> list[tuple[str, zarr.Group]]:
        damaged = (
            [
                folder.name
                for folder in sorted((self.path / "checkpoints").iterdir())
                if folder.is_dir() and not _parses(folder / "zarr.json")
            ]
            if (self.path / "checkpoints").is_dir()
            else []
        )
        try:
            if damaged:
                raise ValueError("unreadable zarr.json")
            return list(self._checkpoints().groups())
        # a damaged zarr.json: JSONDecodeError is a ValueError
        except (ValueError, KeyError, OSError) as error:
            raise StoreError(
                f"the checkpoints of {self.path} cannot be listed ({type(error).__name__}): the"
                f" metadata of {', '.join(damaged) or 'a checkpoint'} is damaged; remove "
                + (
                    ", ".join(str(self.path / "checkpoints" / name) for name in damaged)
                    or "its folder"
                )
                + " and rerun the same `lfe extract`, or extract into a new --out"
            ) from None

    def checkpoint_names(self) -> list[str]:
        """Names of fully created checkpoints (groups that carry their lfe attributes)."""
        return sorted(name for name, sub in self._checkpoint_groups() if "lfe" in sub.attrs)

    def selected(self, checkpoint: str | list[str] = "all") -> list[str]:
        """The checkpoints ``checkpoint`` names ("all", one name, or a list); a store with none is
        an error."""
        names = (
            self.checkpoint_names()
            if checkpoint == "all"
            else [checkpoint]
            if isinstance(checkpoint, str)
            else checkpoint
        )
        if not names:
            raise StoreError(f"{self.path} holds no checkpoint yet; run `lfe extract` first")
        return list(names)

    def finished(self, checkpoint: str | list[str] = "all") -> list[str]:
        """The complete ones of the checkpoints ``checkpoint`` names: of "all", the others are
        skipped with a warning (one may be being extracted now); a named one that is not complete,
        or none complete, is a ``StoreError`` saying why."""
        names = self.selected(checkpoint)
        unfinished = {name: why for name in names if (why := self._unfinished(name))}
        if unfinished and (checkpoint != "all" or len(unfinished) == len(names)):
            raise StoreError(next(iter(unfinished.values())))
        for why in unfinished.values():
            logger.warning(f"skipped: {why}")
        return [name for name in names if name not in unfinished]

    def _unfinished(self, name: str) -> str | None:
        """Why checkpoint ``name`` cannot be read whole yet, or None if it can."""
        checkpoint = self.checkpoint(name)
        if checkpoint.complete:
            return None
        writer = holder(self.path)
        return (
            f"checkpoint {name!r} is incomplete ({int(checkpoint.done[:].sum())}/"
            f"{checkpoint.n_blocks} blocks): "
            + (
                f"{writer}; use it when that has finished"
                if writer
                else "rerun the same `lfe extract` command to finish it"
            )
        )

    def one_checkpoint(self, checkpoint: str | None = None) -> str:
        """``checkpoint``, or the store's only one; a store with none or several (and no choice) is
        an error."""
        if checkpoint is None and len(names := self.selected()) > 1:
            raise StoreError.naming(
                f"{self.path} has several checkpoints ({', '.join(names)}); pass `checkpoint`"
            )
        return checkpoint or self.selected()[0]

    def half_created_checkpoints(self) -> list[str]:
        """Checkpoint groups whose attributes were never written (a run stopped while creating
        them)."""
        return sorted(name for name, sub in self._checkpoint_groups() if "lfe" not in sub.attrs)

    def checkpoint(self, name: str, verify: bool = True) -> Checkpoint:
        """Checkpoint ``name``; with ``verify``, a ``StoreError`` naming the repair if its small
        arrays are damaged."""
        if name not in self.checkpoint_names():
            raise StoreError(
                f"{self.path} has no checkpoint {name!r}; it has"
                f" {', '.join(self.checkpoint_names()) or 'none'}"
            )
        checkpoint = Checkpoint(name, self._checkpoints()[name])
        if verify and (damage := checkpoint.small_arrays_damage()):
            raise StoreError(
                f"checkpoint {name!r} in {self.path} is damaged: {damage}; run `lfe check --repair`"
                " on the store, then the same `lfe extract`"
            )
        return checkpoint

    def create_checkpoint(
        self, name: str, meta: CheckpointMeta, n_tokens: np.ndarray
    ) -> Checkpoint:
        """Create an empty checkpoint shaped by ``meta``; its attributes are written last, marking
        it created."""
        if problem := checkpoint_name_error(name):
            raise StoreError(problem)
        try:
            return self._create_checkpoint(name, meta, n_tokens)
        # a half-created checkpoint has no attributes: the next run recreates it
        except OSError as error:
            raise StoreError(
                f"cannot create checkpoint {name!r} in {self.path}: {write_failure(error)}"
            ) from error

    def _create_checkpoint(
        self, name: str, meta: CheckpointMeta, n_tokens: np.ndarray
    ) -> Checkpoint:
        checkpoints = self._checkpoints()
        # half-created: it holds no data
        shutil.rmtree(self.path / "checkpoints" / name, ignore_errors=True)
        group = checkpoints.create_group(name)
        rows, block_rows = self.n_rows, meta.block_rows
        group.create_array(
            "pooled",
            shape=(rows, meta.n_layers * meta.n_neurons),
            dtype=meta.store_dtype,
            chunks=(block_rows, meta.n_neurons),
            compressors=CODECS[meta.compression],
            fill_value=0,
            dimension_names=DIMENSIONS["pooled"],
        )
        # each with a checksum: a flipped bit anywhere is found, not read
        codecs = CODECS[meta.compression]
        group.create_array(
            "done",
            shape=(-(-rows // block_rows),),
            dtype=bool,
            chunks=(1,),
            fill_value=False,
            compressors=codecs,
            dimension_names=DIMENSIONS["done"],
        )
        group.create_array(
            "n_tokens",
            shape=(rows,),
            dtype="int32",
            chunks=(rows,),
            compressors=codecs,
            dimension_names=DIMENSIONS["n_tokens"],
        )[:] = n_tokens
        # each row's L2 norm over all layers (paper eq. 6), so analysis needs one pass, not two
        group.create_array(
            "norms",
            shape=(rows,),
            dtype="float64",
            chunks=(block_rows,),
            fill_value=0,
            compressors=codecs,
            dimension_names=DIMENSIONS["norms"],
        )
        # per row and neuron: pooled tokens where it fired (LAPE)
        if "positive" in meta.settings.stats:
            group.create_array(
                "positive",
                shape=(rows, meta.n_layers * meta.n_neurons),
                dtype="uint32",
                chunks=(block_rows, meta.n_neurons),
                compressors=codecs,
                fill_value=0,
                dimension_names=DIMENSIONS["positive"],
            )
        group.attrs["lfe"] = meta.to_dict()
        return Checkpoint(name, group)

    def delete_checkpoint(self, name: str) -> None:
        """Remove checkpoint ``name`` (its folder, so damaged metadata inside cannot stop it)."""
        shutil.rmtree(self.path / "checkpoints" / name)

    def describe(self) -> StoreSummary:
        """Everything ``lfe info`` shows."""
        info = self.info
        return StoreSummary(
            path=str(self.path),
            schema_version=info["schema_version"],
            lfe_version=str(info.get("lfe_version", "?")),
            corpus=self.corpus,
            checkpoints={name: self._summary(name) for name in self.checkpoint_names()},
        )

    def _summary(self, name: str) -> CheckpointSummary:
        try:
            checkpoint = self.checkpoint(name)
        except StoreError as error:
            return CheckpointSummary(damaged=str(error))
        done = int(checkpoint.done[:].sum())
        missing = checkpoint.blocks_missing_chunks()  # done, but their files are gone
        return CheckpointSummary(
            shape=tuple(checkpoint.pooled.shape),
            chunks=tuple(checkpoint.pooled.chunks),
            dtype=str(checkpoint.pooled.dtype),
            blocks_done=done,
            blocks=checkpoint.n_blocks,
            blocks_missing_chunks=tuple(missing),
            complete=done == checkpoint.n_blocks and not missing,
            analysis=self._record_params(ANALYSIS, name),
            ablation=self._record_params(ABLATION, name),
            steering=self._record_params(STEERING, name),
            meta=checkpoint.meta,
        )
