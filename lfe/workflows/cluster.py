"""The Dask cluster behind ``--scheduler`` and ``--workers``, shared by extraction and analysis."""

from __future__ import annotations

import os
from contextlib import contextmanager

from lfe.errors import LfeError


@contextmanager
def cluster(scheduler: str | None = None, workers: int | None = None):
    """A ``Client`` for ``--scheduler ADDRESS`` or ``--workers N`` (a local cluster), else None."""
    if scheduler is None and workers is None:
        yield None
        return
    if scheduler is not None and workers is not None:
        raise LfeError("pass --scheduler (an existing Dask cluster) or --workers (a local one), not both")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise LfeError("--scheduler and --workers need dask.distributed: pip install 'dask[distributed]'") from None
    if scheduler is not None:
        with Client(scheduler, timeout="30s") as client:
            yield client
        return
    if workers is None or workers < 1:
        raise LfeError(f"--workers must be at least 1, got {workers}")
    threads = str(max(1, (os.cpu_count() or 1) // workers))  # torch threads per worker: no oversubscription
    env = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "TOKENIZERS_PARALLELISM": "false"}
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      env=env) as local, Client(local) as client:
        yield client
