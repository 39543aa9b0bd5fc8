"""What a store records of the corpus its rows come from: how the rows were chosen, and the
description every later command checks its corpus against."""

from __future__ import annotations

from dataclasses import dataclass

from lfe.records.base import Record


@dataclass(frozen=True)
class CorpusSelection(Record):
    """How the rows were chosen from the corpus a user gave."""

    source: str | None = None  # the corpus file, folder or hf: spec
    langs: tuple[str, ...] = ()  # the languages kept, in corpus order
    samples: int | None = None  # a seeded subset of this many sids (None: every sid)
    seed: int | None = None
    drop_incomplete: bool = False  # sids missing in a language were dropped, not refused
    dropped_sids: int | None = None  # how many were


@dataclass(frozen=True)
class CorpusDescription(Record):
    """The corpus of a store: its languages and sids, the fingerprint of its exact rows, and how
    they were chosen (a record written by a damaged or older store reads with empty defaults)."""

    languages: tuple[str, ...] = ()
    n_sids: int = 0
    n_rows: int = 0
    fingerprint: str = ""  # sha256 of the (lang, sid, text) rows, in corpus order
    selection: CorpusSelection = CorpusSelection()


@dataclass(frozen=True)
class ChoiceItem(Record):
    """One item of a choice task (XStoryCloze's layout, one JSON line of ``choice.jsonl``): the
    context in ``lang``, candidate endings, and the index of the right one."""

    lang: str
    context: str
    endings: tuple[str, ...]
    label: int
    sid: str | None = None
    ending_lang: str | None = None  # the endings' language (None: not recorded)
