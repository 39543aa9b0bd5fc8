"""``lfe check``: is a store whole? Schema, shapes, the resume manifest against the chunks on disk,
the corpus fingerprint, and with ``deep`` every chunk's checksum, non-finite rows and the row norms.

Each finding says what is wrong and what to run. ``repair`` clears the done flag of every block with
a missing, unreadable or inconsistent chunk, so the next ``lfe extract`` (the same command)
recomputes exactly those blocks; nothing else is changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lfe.errors import DamagedStoreError, listing
from lfe.store import SCHEMA_VERSION, ActivationStore
from lfe.store.lock import writer_lock

if TYPE_CHECKING:
    from lfe.store import Checkpoint


class Level(StrEnum):
    """How bad a finding is."""

    ERROR = "error"  # data wrong or missing
    WARNING = "warning"  # incomplete or stale
    OK = "ok"


@dataclass(frozen=True)
class Finding:
    level: Level
    where: str
    what: str
    fix: str = ""

    def __str__(self) -> str:
        return f"{self.level.upper():7} {self.where}: {self.what}" + (
            f" -> {self.fix}" if self.fix else ""
        )


@dataclass
class CheckReport:
    path: str
    deep: bool
    findings: list[Finding] = field(default_factory=list)
    blocks_checked: int = 0
    chunks_read: int = 0
    rows_checked: int = 0
    repaired: dict[str, list[int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(finding.level == Level.ERROR for finding in self.findings)

    def add(self, level: Level, where: str, what: str, fix: str = "") -> None:
        self.findings.append(Finding(level, where, what, fix))


def check_store(
    path: str | Path, deep: bool = False, repair: bool = False, progress: bool = False
) -> CheckReport:
    """Check the store at ``path``; a missing, foreign or newer store raises ``StoreError``.

    ``repair`` reads every chunk (it implies ``deep``: a damaged chunk is only found by reading it)
    and takes the store's writer lock, so it never clears flags under a running extraction.
    """
    if repair:
        deep = True
        with writer_lock(path, "lfe check --repair"):
            return _check(path, deep, repair, progress)
    return _check(path, deep, repair, progress)


def _check(path: str | Path, deep: bool, repair: bool, progress: bool) -> CheckReport:
    store = ActivationStore.open(path, mode="r+" if repair else "r")
    report = CheckReport(str(path), deep)
    report.add(
        Level.OK,
        "store",
        f"schema {store.info['schema_version']} (this lfe reads up to {SCHEMA_VERSION})",
    )
    for leftover in Path(path).parent.glob(f".{Path(path).name}.*.partial"):
        report.add(
            Level.WARNING,
            str(leftover),
            "a store left half-created by an interrupted run",
            f"remove it: rm -r '{leftover}'",
        )
    n_rows = _check_corpus(store, report)
    for name in store.half_created_checkpoints():
        report.add(
            Level.WARNING,
            f"checkpoint {name}",
            "half-created (its attributes were never written)",
            "rerun the `lfe extract` that made it: it recreates the checkpoint",
        )
    for name in store.checkpoint_names():
        _check_checkpoint(store, name, n_rows, report, deep, repair, progress)
    return report


def _check_corpus(store: ActivationStore, report: CheckReport) -> int | None:
    """The number of rows, or None when the corpus arrays are damaged (a finding then says how to
    repair)."""
    try:
        langs, _ = store.labels()  # read and checked against the recorded fingerprint
    except DamagedStoreError as error:
        report.add(Level.ERROR, "corpus", error.what, error.fix)
        return None
    report.add(
        Level.OK,
        "corpus",
        f"{len(langs)} rows, fingerprint {store.corpus.fingerprint[:12]} matches",
    )
    return len(langs)


def _check_checkpoint(
    store: ActivationStore,
    name: str,
    n_rows: int | None,
    report: CheckReport,
    deep: bool,
    repair: bool,
    progress: bool,
) -> None:
    checkpoint = store.checkpoint(name, verify=False)
    where = f"checkpoint {name}"
    if damage := checkpoint.small_arrays_damage():
        report.add(
            Level.ERROR,
            where,
            f"damaged: {damage}",
            "run `lfe check --repair` (it removes the checkpoint: its rows cannot be trusted"
            " without these), then the same `lfe extract` to extract it again",
        )
        if repair:
            store.delete_checkpoint(name)
            report.repaired[name] = []
        return
    rerun = "rerun the same `lfe extract` command to finish it"
    # the corpus's count, unless it is damaged
    rows = n_rows if n_rows is not None else checkpoint.pooled.shape[0]
    width = checkpoint.n_layers * checkpoint.n_neurons
    expected = {
        "pooled": (rows, width),
        "norms": (rows,),
        "n_tokens": (rows,),
        "done": (-(-rows // checkpoint.block_rows),),
    }
    shapes = checkpoint.shapes()
    wrong = [
        f"{key} {shapes[key]} (expected {shape})"
        for key, shape in expected.items()
        if shapes[key] != shape
    ]
    if checkpoint.pooled.chunks != (checkpoint.block_rows, checkpoint.n_neurons):
        wrong.append(
            f"pooled chunks {checkpoint.pooled.chunks} (expected"
            f" {(checkpoint.block_rows, checkpoint.n_neurons)})"
        )
    if wrong:
        report.add(
            Level.ERROR,
            where,
            "shapes do not match the metadata: " + "; ".join(wrong),
            "the checkpoint is damaged; extract it again (`lfe extract --overwrite`)",
        )
        return
    done = checkpoint.done[:]
    bad: dict[int, str] = {
        block: "chunk files missing" for block in checkpoint.blocks_missing_chunks()
    }
    report.blocks_checked += int(done.sum())
    if deep:
        bad.update(_deep_read(checkpoint, done, bad, report, progress))
    for block, why in sorted(bad.items()):
        report.add(
            Level.ERROR,
            f"{where}, block {block} (rows {checkpoint.block_slice(block).start}-"
            f"{checkpoint.block_slice(block).stop - 1})",
            why,
            "run `lfe check --repair` on the store, then the same `lfe extract` command: it"
            " recomputes exactly the affected blocks",
        )
    if repair and bad:
        checkpoint.mark_pending(sorted(bad))
        report.repaired[name] = sorted(bad)
    pending = int((~done).sum())
    if pending:
        report.add(
            Level.WARNING,
            where,
            f"incomplete: {pending} of {len(done)} blocks not written yet",
            rerun,
        )
    if not bad and not pending:
        report.add(
            Level.OK,
            where,
            f"{len(done)} blocks complete{', every chunk read and verified' if deep else ''}",
        )


def _deep_read(
    checkpoint: Checkpoint, done: np.ndarray, known: dict, report: CheckReport, progress: bool
) -> dict[int, str]:
    """Read every chunk of every done block: checksums, non-finite values, norms against the
    rows."""
    from tqdm import tqdm

    bad = {}
    blocks = [int(b) for b in np.flatnonzero(done) if int(b) not in known]
    width = checkpoint.n_neurons
    tokens = checkpoint.n_tokens  # read once (a number per row), for the positive counts
    for block in tqdm(blocks, desc=f"check {checkpoint.name}", unit="block", disable=not progress):
        span = checkpoint.block_slice(block)
        squares = np.zeros(span.stop - span.start)
        finite = np.ones(span.stop - span.start, dtype=bool)
        problem = None
        for layer in range(checkpoint.n_layers):
            try:
                values = checkpoint.pooled[span, layer * width : (layer + 1) * width].astype(
                    np.float64
                )
            except Exception as error:  # noqa: BLE001 - checksum mismatch or undecodable bytes: each codec raises its own type
                problem = f"layer {layer}'s chunk is corrupted ({type(error).__name__}: {error})"
                break
            report.chunks_read += 1
            finite &= np.isfinite(values).all(axis=1)
            squares += np.einsum("ij,ij->i", values, values)
            if checkpoint.positive is not None and problem is None:
                problem = _positive_problem(checkpoint, span, layer, tokens[span])
        if problem is None:
            try:
                stored = checkpoint.norms[span]
                report.chunks_read += 1
            except Exception as error:  # noqa: BLE001 - each codec raises its own type for undecodable bytes
                problem = f"the norms chunk is corrupted ({type(error).__name__}: {error})"
        if problem is None and not finite.all():
            problem = f"non-finite values in rows {listing(np.flatnonzero(~finite) + span.start)}"
        if problem is None and not np.allclose(np.sqrt(squares), stored, rtol=1e-3, atol=1e-6):
            problem = (
                "the stored row norms do not match the rows (a chunk was overwritten or zeroed)"
            )
        report.rows_checked += span.stop - span.start
        if problem is not None:
            bad[block] = problem
    return bad


def _positive_problem(
    checkpoint: Checkpoint, span: slice, layer: int, tokens: np.ndarray
) -> str | None:
    """Why one block's positive counts of one layer are wrong (unreadable, or above the tokens
    pooled), or None."""
    width, positive = checkpoint.n_neurons, checkpoint.positive
    if positive is None:  # extracted without positive counts: nothing to check
        return None
    try:
        counts = positive[span, layer * width : (layer + 1) * width]
    except Exception as error:  # noqa: BLE001 - checksum mismatch or undecodable bytes: each codec raises its own type
        return (
            f"layer {layer}'s positive-count chunk is corrupted ({type(error).__name__}: {error})"
        )
    if (counts > tokens[:, None]).any():
        return f"layer {layer}'s positive counts exceed the tokens pooled (a chunk was overwritten)"
    return None
