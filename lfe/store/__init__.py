"""Storage of pooled activations (Zarr v3): the store, its checkpoints, the writer and the lock.

Knows nothing of models (never imports torch, transformers or lfe.engine; a test enforces it).
"""

from lfe.store.checkpoint import Checkpoint
from lfe.store.schema import CODECS, SCHEMA_VERSION
from lfe.store.store import ActivationStore
from lfe.store.writer import BackgroundWriter

__all__ = ["CODECS", "SCHEMA_VERSION", "ActivationStore", "BackgroundWriter", "Checkpoint"]
