"""Finished cells of a long evaluation, kept on disk as they finish, so that a rerun goes on from
them.

A journal is one JSON-lines file per evaluation identity (the model's weights, the settings, the
masks and the texts, hashed): a rerun with anything changed starts a journal of its own and never
mixes cells. Each line is flushed when its cell finishes, so a killed process keeps every cell
before it; a torn or damaged line only costs that cell again. The journal is removed once the whole
result is written elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from lfe.errors import LfeError
from lfe.log import logger
from lfe.store.schema import write_failure


def identity_digest(identity: Any) -> str:
    """A short hash of ``identity`` (anything JSON can write: hash arrays' bytes first)."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


class CellJournal:
    """Cells keyed by tuples of strings, appended to ``folder/.cells-<kind>-<digest>.jsonl``."""

    def __init__(self, folder: Path, kind: str, identity: Any) -> None:
        self.path = Path(folder) / f".cells-{kind}-{identity_digest(identity)}.jsonl"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")
        except OSError as error:
            raise LfeError(
                f"cannot write the progress of this run into {self.path.parent}: "
                f"{write_failure(error)}"
            ) from None
        self.cells = self._read()
        if self.cells:
            logger.info(f"resuming: {len(self.cells)} finished cells from {self.path}")

    def _read(self) -> dict[tuple[str, ...], Any]:
        cells, damaged = {}, 0
        with open(self.path, encoding="utf-8", errors="replace") as lines:
            for line in filter(str.strip, lines):
                try:
                    entry = json.loads(line)
                    cells[tuple(entry["key"])] = entry["value"]
                except (ValueError, KeyError, TypeError):
                    damaged += 1  # a line torn by a kill, or damaged on disk: that cell runs again
        if damaged:
            logger.warning(f"{damaged} unreadable line(s) in {self.path}: those cells run again")
        return cells

    def __contains__(self, key: tuple[str, ...]) -> bool:
        return key in self.cells

    def __getitem__(self, key: tuple[str, ...]) -> Any:
        return self.cells[key]

    def put(self, key: tuple[str, ...], value: Any) -> None:
        """Keep a finished cell (on disk before this returns, as far as a killed process is
        concerned)."""
        self.cells[key] = value
        try:
            self._file.write("\n" + json.dumps({"key": list(key), "value": value}) + "\n")
            self._file.flush()
        except OSError as error:
            raise LfeError(
                f"cannot keep the progress of this run in {self.path}: {write_failure(error)}"
            ) from None

    def sync(self) -> None:
        """Make the kept cells survive a power loss too (called between groups of cells)."""
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self, finished: bool) -> None:
        """Close; a finished run's journal is removed (its result lives elsewhere by then)."""
        self._file.close()
        if finished:
            self.path.unlink(missing_ok=True)
