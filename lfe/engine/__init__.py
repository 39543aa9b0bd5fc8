"""Running models: loading, family adapters, pooling hooks and the extraction loop."""

from lfe.engine.runner import CheckpointReport, ExtractSettings, extract

__all__ = ["CheckpointReport", "ExtractSettings", "extract"]
