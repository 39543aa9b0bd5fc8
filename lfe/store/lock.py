"""One writer per part of a store: advisory locks that a crashed process cannot leave behind.

Each lock is ``flock`` on a small file beside the store (``.run.zarr.lock`` for the rows, taken
before the store exists; ``.run.zarr.analysis.lock`` for the analyses, and one for the ablations
and one for the steering records), so that ``lfe analyze`` can run while ``lfe extract`` adds
checkpoints, but two analyses of one store never interleave. A record's lock is held only while
it is written (exclusive) or read with its arrays (shared, so any number of readers at once): no
reader sees a record half rewritten. The kernel drops a lock
when its process ends, however it ends (SIGKILL included): there is never a stale lock to
delete. An exclusive holder writes who it is into the file, for the refusal message. Like every
``flock``, the locks are reliable on local file systems; on NFS, run one writer per store.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from lfe.errors import StoreError
from lfe.store.schema import write_failure

ROWS = "rows"  # the checkpoints' rows, written by lfe extract (and cleared by lfe check --repair)
# the records' lock files this process holds exclusively: a nested take passes (a workflow holds
# the analyses while it writes one; the rows' lock is never nested: a second extraction is refused)
_HELD_HERE: set[Path] = set()


def lock_path(store: str | Path, part: str = ROWS) -> Path:
    """The lock file of ``part`` of ``store``, beside the real store: a symlink or another spelling
    of the path locks the same."""
    store = Path(store).resolve()
    return store.with_name(f".{store.name}.lock" if part == ROWS else f".{store.name}.{part}.lock")


@contextmanager
def writer_lock(
    store: str | Path, command: str = "lfe extract", part: str = ROWS, wait: float = 0
) -> Iterator[None]:
    """Hold ``part`` of the store exclusively for the ``with`` block; ``StoreError`` naming the
    holder if another process still holds it after ``wait`` seconds. Only the rows' lock must be
    made: where a record's lock file cannot be (a read-only folder above the store), the record is
    written without it."""
    path = lock_path(store, part)
    if path in _HELD_HERE:
        yield
        return
    with _opened(store, part, needed=part == ROWS) as handle:
        if handle is None:
            yield
            return
        if not _took(handle, fcntl.LOCK_EX, wait):
            raise StoreError(f"{_held(store, part, handle)}; wait for it to finish or stop it")
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "since": time.time(),
                    "command": command,
                }
            )
        )
        handle.flush()
        if part != ROWS:
            _HELD_HERE.add(path)
        try:
            yield
        finally:
            _HELD_HERE.discard(path)


@contextmanager
def reader_lock(store: str | Path, part: str, wait: float = 0) -> Iterator[None]:
    """Hold ``part`` of the store shared for the ``with`` block, so nobody rewrites it meanwhile;
    ``StoreError`` naming the writer if one still holds it after ``wait`` seconds. Where no lock
    file can be made (a read-only folder), nobody can write the part either: nothing is held."""
    if lock_path(store, part) in _HELD_HERE:
        yield
        return
    with _opened(store, part, needed=False) as handle:
        if handle is not None and not _took(handle, fcntl.LOCK_SH, wait):
            raise StoreError(f"{_held(store, part, handle)}; wait for it to finish")
        yield


def holder(store: str | Path, part: str = ROWS) -> str | None:
    """Who holds ``part`` of ``store`` now, as a sentence, or None if nobody does."""
    path = lock_path(store, part)
    try:
        handle = open(path)
    except OSError:
        return None
    with handle:
        if _took(handle, fcntl.LOCK_SH):
            return None
        return _held(store, part, handle)


@contextmanager
def _opened(store: str | Path, part: str, needed: bool) -> Iterator[IO[str] | None]:
    """The open lock file (closing it releases the lock), or None where it cannot be made and is not
    ``needed``."""
    path = lock_path(store, part)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")
    except OSError as error:
        if not needed:
            yield None
            return
        raise StoreError(
            f"cannot take the writer lock of {store}: {write_failure(error)}"
        ) from None
    with handle:
        yield handle


def _took(handle: IO[str], kind: int, wait: float = 0) -> bool:
    """Whether the lock ``kind`` was taken within ``wait`` seconds (polled: flock has no
    timeout)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(handle, kind | fcntl.LOCK_NB)
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        else:
            return True


def _held(store: str | Path, part: str, handle: IO[str]) -> str:
    """A sentence naming who holds ``part``: the exclusive writer its file names, or, when only
    readers hold it (a shared lock can still be taken), that it is being read."""
    what = "written" if part == ROWS else f"written (its {part})"
    if _took(handle, fcntl.LOCK_SH):
        fcntl.flock(handle, fcntl.LOCK_UN)
        return f"{store} is being read (its {part}) by another lfe command"
    handle.seek(0)
    try:
        writer = json.loads(handle.read() or "{}")
    except ValueError:
        writer = {}
    since = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(writer["since"]))
        if "since" in writer
        else "?"
    )
    return (
        f"{store} is being {what} by another {writer.get('command', 'lfe process')} (pid"
        f" {writer.get('pid', '?')} on {writer.get('host', '?')}, since {since})"
    )
