"""Storage of pooled activations (Zarr v3). Knows nothing of models."""

from lfe.store.api import COMPRESSIONS, SCHEMA_VERSION, STORE_DTYPES, ActivationStore, Checkpoint
from lfe.store.writer import BackgroundWriter

__all__ = ["COMPRESSIONS", "SCHEMA_VERSION", "STORE_DTYPES", "ActivationStore", "BackgroundWriter", "Checkpoint"]
