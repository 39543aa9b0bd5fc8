"""A background writer with a bounded queue: the engine computes while Zarr compresses and writes.

The queue holds at most ``max_pending`` blocks, so memory stays flat however long the run. Leaving
the ``with`` block drains the queue even on an exception or Ctrl-C: every block handed over is
complete, so writing it loses nothing and leaves no half-written block marked done.
"""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any

_STOP = object()


class BackgroundWriter:
    def __init__(self, write: Callable[..., None], max_pending: int = 2) -> None:
        self._write = write
        self._queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="lfe-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not _STOP:
            if self._error is None:  # after a failure, drain without writing
                try:
                    self._write(*item)
                except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
                    self._error = error

    def submit(self, *args: Any) -> None:
        """Queue one write; blocks while the queue is full; raises a failed write's error."""
        self._raise()
        self._queue.put(args)

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Write everything queued, stop the thread, and raise a failed write's error."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        self._raise()

    def __enter__(self) -> "BackgroundWriter":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is None:
            self.close()
        else:
            try:
                self.close()
            except BaseException:  # noqa: BLE001 - the original error is the one to report
                pass
