"""Language models: loading, one adapter per family, the catalogue of fetchable models, tiny test
models and a small training run. The only place that knows what a model family looks like inside."""

from lfe.models.families import FAMILIES, adapter_class, adapter_for
from lfe.models.loading import LoadedModel, load, load_model, resolve_source

__all__ = [
    "FAMILIES",
    "LoadedModel",
    "adapter_class",
    "adapter_for",
    "load",
    "load_model",
    "resolve_source",
]
