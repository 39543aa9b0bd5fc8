"""Extraction: a corpus through a model into the store, pooled on the device, crash-safe.

``prepare`` decides what to (re)compute and checks identities, ``loop`` runs the batches and hands
finished blocks to the store's writer, ``distributed`` runs both as Dask tasks, ``extract`` is the
entry point. Models themselves (loading, families) live in ``lfe.models``.
"""

from lfe.engine.extraction import extract
from lfe.engine.prepare import CheckpointReport
from lfe.records import ExtractSettings

__all__ = ["CheckpointReport", "ExtractSettings", "extract"]
