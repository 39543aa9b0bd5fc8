"""The Dask cluster behind ``--scheduler`` and ``--workers``, shared by extraction and analysis."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from lfe.errors import LfeError, Problem

if TYPE_CHECKING:
    from distributed import Client


@contextmanager
def cluster(scheduler: str | None = None, workers: int | None = None) -> Iterator[Client | None]:
    """A ``Client`` for ``--scheduler ADDRESS`` or ``--workers N`` (a local cluster), else None."""
    if scheduler is None and workers is None:
        yield None
        return
    if scheduler is not None and workers is not None:
        raise LfeError.naming(
            "pass `scheduler` (an existing Dask cluster) or `workers` (a local one), not both"
        )
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        sentence = "(or `workers`) needs dask.distributed: pip install 'dask[distributed]'"
        raise LfeError.of(Problem("scheduler", sentence)) from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, ValueError, TypeError) as error:
            raise LfeError.naming(
                f"cannot reach the Dask scheduler at {scheduler!r} ({error}); pass its address as "
                "tcp://HOST:PORT, or `workers` N for a local cluster"
            ) from None
        with client:
            yield client
        return
    cores = os.cpu_count() or 1
    # each worker is a process with at least one thread
    if workers is None or not 1 <= workers <= cores:
        sentence = (
            f"must be 1 to {cores} (this machine's cores), got {workers}; for more, start a Dask"
            " cluster and pass `scheduler`"
        )
        raise LfeError.of(Problem("workers", sentence))
    threads = str(cores // workers)  # torch threads per worker: no oversubscription
    env = {
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "TOKENIZERS_PARALLELISM": "false",
    }
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, env=env
        ) as local,
        Client(local) as client,
    ):
        yield client
