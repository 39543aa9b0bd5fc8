"""What workflows keep about a checkpoint in its store: the analysis (a record and its arrays), the
last ablation table (with its generations) and the last steering table (with its continuations),
each under ``<kind>/<checkpoint>``; damaged ones are reported with the command that replaces them.
What is kept is enough to write every report again (``lfe report``)."""

from __future__ import annotations

import shutil
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Sequence, TypeVar

import numpy as np
import zarr

from lfe.errors import StoreError
from lfe.records import (
    AblationTable,
    AnalysisArrays,
    AnalysisRecord,
    Generation,
    Record,
    SteeredText,
    SteerTable,
)
from lfe.store.guarded import GuardedArray, damage_named
from lfe.store.lock import reader_lock, writer_lock
from lfe.store.schema import CODECS, DIMENSIONS

# the groups of records kept per checkpoint
ANALYSIS, ABLATION, STEERING = "analysis", "ablation", "steering"
MADE_BY = {ANALYSIS: "lfe analyze", ABLATION: "lfe ablate", STEERING: "lfe steer"}
DETAILS = "details"  # beside a record: the rows its tables summarise (generations, continuations)
Detail = TypeVar("Detail", bound=Record)  # a record read back (a table, or one of its rows)
# the peers' arrays are optional
REQUIRED_ARRAYS = ("similarity", "zscores", "regions", "key_neurons_per_layer")
# how long a command waits for another's write of a record (seconds: a write is short)
RECORD_WAIT = 300.0


class CheckpointRecords:
    """The records part of ``ActivationStore`` (its ``path`` and root ``_group``)."""

    path: Path
    _group: zarr.Group

    def write_analysis(self, name: str, record: AnalysisRecord, arrays: AnalysisArrays) -> None:
        """Replace ``analysis/<name>`` with ``arrays`` and ``record`` (the record written last),
        the store's analyses locked: no reader sees one half replaced."""
        with self.writing(ANALYSIS):
            self._write_analysis(name, record, arrays)

    def _write_analysis(self, name: str, record: AnalysisRecord, arrays: AnalysisArrays) -> None:
        group = self._fresh_group(ANALYSIS, name)
        for key, values in arrays.to_dict().items():
            if values is None:  # a method that did not run
                continue
            values = np.asarray(values)
            group.create_array(
                key,
                shape=values.shape,
                dtype=values.dtype,
                chunks=values.shape or None,
                compressors=CODECS["zstd"],
                config={"write_empty_chunks": True},
                dimension_names=DIMENSIONS.get(key),
            )[...] = values
        group.attrs["lfe"] = record.to_dict()

    def analysis(self, name: str) -> AnalysisRecord:
        """The analysis record of checkpoint ``name``; ``StoreError`` if none was written."""
        return AnalysisRecord.from_dict(self._required_attrs(ANALYSIS, name))

    def analysis_with_arrays(self, name: str) -> tuple[AnalysisRecord, AnalysisArrays]:
        """The record and the arrays of checkpoint ``name``'s analysis, read into numpy together
        (an analysis being rewritten meanwhile is waited for)."""
        with reader_lock(self.path, ANALYSIS, RECORD_WAIT):
            record = self.analysis(name)
            arrays = self.lazy_analysis_arrays(name)
            with self._damaged_record(ANALYSIS, name):
                return record, AnalysisArrays(
                    **{key: np.asarray(array[:]) for key, array in arrays.items()}
                )

    def analysis_arrays(self, name: str) -> AnalysisArrays:
        """The arrays of checkpoint ``name``'s analysis, read into numpy."""
        return self.analysis_with_arrays(name)[1]

    def writing(self, kind: str) -> AbstractContextManager[None]:
        """The lock of the store's ``kind`` records (``ANALYSIS``, ...), held exclusively: the
        records it holds are not read or written by another process meanwhile."""
        return writer_lock(self.path, MADE_BY[kind], kind, RECORD_WAIT)

    def lazy_analysis_arrays(self, name: str) -> dict[str, GuardedArray]:
        """The arrays of checkpoint ``name``'s analysis as Zarr arrays (read when indexed, a damaged
        chunk then a ``StoreError``), keyed by ``AnalysisArrays`` field; every required one present
        with all its chunks."""
        self._required_attrs(ANALYSIS, name)
        with self._damaged_record(ANALYSIS, name):
            group = self._group[ANALYSIS][name]
            arrays = {
                key: group[key] for key in AnalysisArrays.__dataclass_fields__ if key in group
            }
            # a missing one is a KeyError: damage
            arrays.update({key: group[key] for key in REQUIRED_ARRAYS})
            lost = [
                key for key, array in arrays.items() if array.nchunks_initialized < array.nchunks
            ]
            # written with every chunk (write_empty_chunks): a missing one would read as zeros
            if lost:
                raise StoreError(f"chunk files of {', '.join(lost)} are missing")
        return {
            key: GuardedArray(array, lambda: self._damaged_record(ANALYSIS, name))
            for key, array in arrays.items()
        }

    def has_analysis(self, name: str) -> bool:
        return self._record_attrs(ANALYSIS, name) is not None

    def write_ablation(
        self, name: str, table: AblationTable, generations: Sequence[Generation] = ()
    ) -> None:
        """Keep ``table`` and its ``generations`` as checkpoint ``name``'s ablation record,
        replacing the last one."""
        self._write_record(ABLATION, name, table, generations)

    def ablation(self, name: str) -> AblationTable | None:
        """The last ablation table of checkpoint ``name``, or None."""
        return self._kept(ABLATION, name, AblationTable)

    def ablation_generations(self, name: str) -> list[Generation]:
        """The continuations of the last ablation of checkpoint ``name`` (none without
        ``--generate``)."""
        return self._details(ABLATION, name, Generation)

    def write_steering(self, name: str, table: SteerTable, texts: Sequence[SteeredText]) -> None:
        """Keep ``table`` and every continuation as checkpoint ``name``'s steering record, replacing
        the last one."""
        self._write_record(STEERING, name, table, texts)

    def steering(self, name: str) -> SteerTable | None:
        """The last steering table of checkpoint ``name``, or None."""
        return self._kept(STEERING, name, SteerTable)

    def steering_texts(self, name: str) -> list[SteeredText]:
        """Every continuation of the last steering run of checkpoint ``name``."""
        return self._details(STEERING, name, SteeredText)

    def _write_record(
        self, kind: str, name: str, record: Record, details: Sequence[Record] = ()
    ) -> None:
        # one write of the attributes: a record is never seen without its details
        with self.writing(kind):
            self._fresh_group(kind, name).attrs.update(
                {DETAILS: [detail.to_dict() for detail in details], "lfe": record.to_dict()}
            )

    def _kept(self, kind: str, name: str, kind_of_record: type[Detail]) -> Detail | None:
        """The record kept under ``kind/name``, or None; one that does not read back is damage."""
        attrs = self._record_attrs(kind, name)
        if attrs is None:
            return None
        with self._damaged_record(kind, name):
            return kind_of_record.from_dict(attrs)

    def _details(self, kind: str, name: str, kind_of_detail: type[Detail]) -> list[Detail]:
        self._required_attrs(kind, name)
        with self._damaged_record(kind, name):
            return [
                kind_of_detail.from_dict(detail)
                for detail in self._group[kind][name].attrs.get(DETAILS, [])
            ]

    def _record_attrs(self, kind: str, name: str) -> dict | None:
        with self._damaged_record(kind, name):
            group = self._group.get(kind)
            if group is None or name not in group or "lfe" not in group[name].attrs:
                return None
            return dict(group[name].attrs["lfe"])

    def _damaged_record(self, kind: str, name: str) -> AbstractContextManager[None]:
        """Reading ``kind/name``: damaged metadata or chunks become one ``StoreError`` that names
        the repair."""
        return damage_named(
            f"the {kind} of checkpoint {name!r} in {self.path}",
            f"run `{MADE_BY[kind]}` on the store again: it replaces it",
        )

    def _record_params(self, kind: str, name: str) -> dict | str | None:
        """The parameters of ``kind/name`` for ``lfe info``: None if there is none, a sentence if it
        is damaged."""
        try:
            attrs = self._record_attrs(kind, name)
        except StoreError as error:
            return str(error)
        return self._interrupted(kind, name) if attrs is None else dict(attrs.get("params") or {})

    def _required_attrs(self, kind: str, name: str) -> dict:
        attrs = self._record_attrs(kind, name)
        if attrs is None:
            raise StoreError(
                self._interrupted(kind, name)
                or f"{self.path} has no {kind} of checkpoint {name!r}; run `{MADE_BY[kind]}"
                f" {self.path}`"
            )
        return attrs

    def _interrupted(self, kind: str, name: str) -> str | None:
        """A sentence if ``kind/name`` was begun and never finished (its command was stopped while
        writing it: the record is written last), else None."""
        if name not in self._group.get(kind, {}):
            return None
        return (
            f"the {kind} of checkpoint {name!r} in {self.path} was never finished (its"
            f" `{MADE_BY[kind]}` was stopped while writing it); run `{MADE_BY[kind]}` again"
        )

    def _fresh_group(self, kind: str, name: str) -> zarr.Group:
        """An empty ``kind/name`` group, replacing what was there (damaged or not)."""
        parent = self._required_group(kind)
        # the record's metadata first: a run stopped while deleting the rest leaves no record that
        # looks whole over arrays half deleted
        (self.path / kind / name / "zarr.json").unlink(missing_ok=True)
        shutil.rmtree(self.path / kind / name, ignore_errors=True)
        return parent.create_group(name, overwrite=True)

    def _required_group(self, key: str) -> zarr.Group:
        """The group ``key``, created if missing; damaged metadata of it (it holds no attributes) is
        rewritten."""
        try:
            return self._group.require_group(key)
        except Exception:  # noqa: BLE001 - an unreadable zarr.json: its children are separate files and stay
            (self.path / key / "zarr.json").unlink(missing_ok=True)
            return self._group.require_group(key)

    def prepare_records(self) -> None:
        """Create the groups that records go into, so tasks on a cluster never race to create
        them."""
        self._required_group(ANALYSIS)
