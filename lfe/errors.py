"""Every exception lfe raises for bad input, in one place: each says what is wrong and how to fix
it."""


class LfeError(Exception):
    """Base class: a problem with the user's input or environment, not a bug in lfe."""


class CorpusError(LfeError):
    """The corpus cannot be read, or is not a complete parallel corpus."""


class ModelError(LfeError):
    """The model cannot be loaded, or its family is not supported."""


class StoreError(LfeError):
    """The store is missing, damaged, or was made from another corpus, model or settings."""


class DamagedStoreError(StoreError):
    """A part of the store cannot be read or trusted: ``what`` is wrong, ``fix`` is the command that
    repairs it."""

    def __init__(self, what: str, fix: str):
        super().__init__(f"{what}; {fix}")
        self.what, self.fix = what, fix


class AnalysisError(LfeError):
    """The activations cannot be analysed as asked (too few languages, unreachable threshold,
    ...)."""


class PanelReadError(AnalysisError):
    """The activations of a layer could not be read (a damaged chunk of a store, say)."""


class FetchError(LfeError):
    """A download failed, or what was downloaded is not what was expected."""


def listing(items, limit: int = 10) -> str:
    """Join the first ``limit`` items with commas and say how many were left out."""
    items = list(items)
    shown = ", ".join(str(item) for item in items[:limit])
    if len(items) > limit:
        shown += f", ... ({len(items)} in all)"
    return shown
