"""Storage of pooled activations (Zarr v3). Knows nothing of models."""

from lfe.store.api import SCHEMA_VERSION, STORE_DTYPES, ActivationStore, Checkpoint
from lfe.store.writer import BackgroundWriter

__all__ = ["SCHEMA_VERSION", "STORE_DTYPES", "ActivationStore", "BackgroundWriter", "Checkpoint"]
