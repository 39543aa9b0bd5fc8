"""One adapter per model family; see ``registry.FAMILIES`` for which serves which model type."""

from lfe.models.families.registry import FAMILIES, adapter_class, adapter_for

__all__ = ["FAMILIES", "adapter_class", "adapter_for"]
