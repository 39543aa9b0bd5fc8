"""One writer per store: an advisory lock that a crashed process cannot leave behind.

The lock is ``flock`` on a small file beside the store (``.run.zarr.lock``), so it can be taken
before the store exists. The kernel drops it when its process ends, however it ends (SIGKILL
included): there is never a stale lock to delete. It holds who took it, for the refusal message.
Like every ``flock``, it is reliable on local file systems; on NFS, run one extraction per store.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from lfe.errors import StoreError
from lfe.store.schema import write_failure


def lock_path(store: str | Path) -> Path:
    """The lock file of ``store``, beside the real store: a symlink or another spelling of the path
    locks the same."""
    store = Path(store).resolve()
    return store.with_name(f".{store.name}.lock")


@contextmanager
def writer_lock(store: str | Path, command: str = "lfe extract") -> Iterator[None]:
    """Hold the store's writer lock for the ``with`` block; ``StoreError`` naming the holder if
    taken."""
    path = lock_path(store)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")
    except OSError as error:
        raise StoreError(
            f"cannot take the writer lock of {store}: {write_failure(error)}"
        ) from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            try:
                holder = json.loads(handle.read() or "{}")
            except ValueError:
                holder = {}
            since = (
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder["since"]))
                if "since" in holder
                else "?"
            )
            raise StoreError(
                f"{store} is being written by another {holder.get('command', 'lfe process')} (pid"
                f" {holder.get('pid', '?')} on {holder.get('host', '?')}, since {since}); wait for"
                " it to finish or stop it. A crashed process releases the lock by itself"
            ) from None
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
        yield
    finally:
        handle.close()  # closing releases the lock
