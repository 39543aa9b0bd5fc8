"""Every exception lfe raises for bad input, in one place: each says what is wrong and how to fix
it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Self

if TYPE_CHECKING:
    from typing import Iterable

_FIELD = re.compile(r"`([a-z][a-z_]*)`")


@dataclass(frozen=True)
class Problem:
    """What is wrong with one parameter (a settings record's field, a function's argument), in
    the library's own words: ``sentence`` follows the parameter's name and names another one as
    `name` (the CLI shows the options that set them there)."""

    field: str
    sentence: str

    def text(self, name: Callable[[str], str] = str) -> str:
        """``field sentence`` (the sentence alone without a field), with every parameter shown as
        ``name(parameter)``."""
        head = f"{name(self.field)} " if self.field else ""
        return head + _FIELD.sub(lambda found: name(found[1]), self.sentence)


class LfeError(Exception):
    """Base class: a problem with the user's input or environment, not a bug in lfe.

    Made ``of`` problems with named parameters, it says which parameters, and the CLI says which
    options (``text``)."""

    problems: tuple[Problem, ...] = ()

    @classmethod
    def of(cls, *problems: Problem) -> Self:
        """This error about ``problems``, its message naming the parameters."""
        error = cls("; ".join(problem.text() for problem in problems))
        error.problems = problems
        return error

    @classmethod
    def naming(cls, sentence: str) -> Self:
        """This error saying ``sentence``, whose `parameters` (in backticks) are shown as the
        library's names or, by the CLI, as the command's options."""
        return cls.of(Problem("", sentence))

    def text(self, name: Callable[[str], str] = str) -> str:
        """The message, each problem's parameters shown as ``name(parameter)``."""
        if not self.problems:
            return str(self)
        return "; ".join(problem.text(name) for problem in self.problems)


class SettingsError(LfeError):
    """A settings record was given values it cannot take (made ``of`` its problems)."""


class CorpusError(LfeError):
    """The corpus cannot be read, or is not a complete parallel corpus."""


class ModelError(LfeError):
    """The model cannot be loaded, or its family is not supported."""


class StoreError(LfeError):
    """The store is missing, damaged, or was made from another corpus, model or settings."""


class DamagedStoreError(StoreError):
    """A part of the store cannot be read or trusted: ``what`` is wrong, ``fix`` is the command that
    repairs it."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what}; {fix}")
        self.what, self.fix = what, fix


class AnalysisError(LfeError):
    """The activations cannot be analysed as asked (too few languages, unreachable threshold,
    ...)."""


class PanelReadError(AnalysisError):
    """The activations of a layer could not be read (a damaged chunk of a store, say)."""


class FetchError(LfeError):
    """A download failed, or what was downloaded is not what was expected."""


def listing(items: Iterable[object], limit: int = 10) -> str:
    """Join the first ``limit`` items with commas and say how many were left out."""
    items = list(items)
    shown = ", ".join(str(item) for item in items[:limit])
    if len(items) > limit:
        shown += f", ... ({len(items)} in all)"
    return shown
