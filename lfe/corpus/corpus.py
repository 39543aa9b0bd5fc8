"""The checked, selected corpus: rows in corpus order (language, then sid), and how it is
selected."""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Iterable, Sequence

from lfe.errors import CorpusError, Problem, listing
from lfe.records import CorpusDescription, CorpusSelection

if TYPE_CHECKING:
    from typing import Sequence


@dataclass(frozen=True)
class Record:
    """One text as read from a file; ``where`` is "file:line" for error messages."""

    lang: str
    sid: str
    text: str
    where: str


@dataclass(frozen=True)
class Corpus:
    """A complete parallel corpus: every sid in every language.

    Row ``r`` is language ``langs[r // n_sids]`` and sid ``sids[r % n_sids]``, so rows are in corpus
    order (language, then sid) and ``texts[r]`` is that row's text.
    """

    langs: tuple[str, ...]
    sids: tuple[str, ...]
    texts: tuple[str, ...]
    selection: CorpusSelection = CorpusSelection()

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.langs) * len(self.sids):
            raise ValueError(
                f"{len(self.texts)} texts for {len(self.langs)} languages x {len(self.sids)} sids"
            )

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def n_sids(self) -> int:
        return len(self.sids)

    def row_langs(self) -> list[str]:
        return [lang for lang in self.langs for _ in self.sids]

    def row_sids(self) -> list[str]:
        return [sid for _ in self.langs for sid in self.sids]

    def row_labels(self) -> list[str]:
        """Each row's ``lang/sid`` label, as error messages name rows."""
        return [row_label(lang, sid) for lang, sid in zip(self.row_langs(), self.row_sids())]

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of the exact rows used, in corpus order: (lang, sid, text) as JSON lines (hashed
        once per corpus: a cluster worker asks for it at every block)."""
        return rows_fingerprint(self.row_langs(), self.row_sids(), self.texts)

    def describe(self) -> CorpusDescription:
        """What every store of these rows records of them."""
        return CorpusDescription(
            languages=tuple(self.langs),
            n_sids=self.n_sids,
            n_rows=len(self),
            fingerprint=self.fingerprint,
            selection=self.selection,
        )


def row_label(lang: str, sid: str) -> str:
    """How lfe names one row in messages: ``en/12``."""
    return f"{lang}/{sid}"


def rows_fingerprint(langs: Sequence[str], sids: Sequence[str], texts: Sequence[str]) -> str:
    """sha256 of (lang, sid, text) rows as JSON lines: a corpus's identity, recomputable from a
    store."""
    digest = hashlib.sha256()
    for lang, sid, text in zip(langs, sids, texts):
        digest.update(json.dumps([lang, sid, text], ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def select(
    records: Iterable[Record],
    *,
    langs: Sequence[str] | None = None,
    samples: int | None = None,
    seed: int | None = None,
    drop_incomplete: bool = False,
    source: str | None = None,
) -> Corpus:
    """Check ``records`` and build a complete corpus of the chosen languages and sids.

    Languages keep the order of ``langs`` (else their order of first appearance); sids keep their
    order of first appearance. ``samples`` picks a seeded random subset of sids (``seed`` required).
    Raises ``CorpusError`` naming every duplicate (lang, sid), unknown language and missing pair.
    """
    records = list(records)
    name = source or "the corpus"
    if not records:
        raise CorpusError(f"{name} holds no texts")
    by_key = _unique(records)
    langs = _chosen_langs(records, langs, name)
    all_sids = list(dict.fromkeys(r.sid for r in records if r.lang in set(langs)))
    sids = _complete_sids(by_key, langs, all_sids, drop_incomplete, name)
    if samples is not None:
        sids = _sample(sids, samples, seed)
    elif seed is not None:
        sentence = (
            "draws the `samples` subset; without `samples` it would change nothing: pass both"
        )
        raise CorpusError.of(Problem("seed", sentence))
    texts = tuple(by_key[(lang, sid)].text for lang in langs for sid in sids)
    selection = CorpusSelection(
        source=None if source is None else str(source),
        langs=tuple(langs),
        samples=samples,
        seed=seed,
        drop_incomplete=drop_incomplete,
        dropped_sids=len(all_sids) - len(sids) if samples is None else None,
    )
    return Corpus(tuple(langs), tuple(sids), texts, selection)


def _unique(records: list[Record]) -> dict[tuple[str, str], Record]:
    """The records by (lang, sid); ``CorpusError`` naming every duplicate with both places."""
    by_key: dict[tuple[str, str], Record] = {}
    duplicates = []
    for record in records:
        key = (record.lang, record.sid)
        if key in by_key:
            duplicates.append(
                f"{record.lang}/{record.sid} at {by_key[key].where} and {record.where}"
            )
        else:
            by_key[key] = record
    if duplicates:
        raise CorpusError(
            f"duplicate (lang, sid) pairs: {listing(duplicates)}. Each sid may appear once per"
            " language."
        )
    return by_key


def _chosen_langs(records: list[Record], langs: Sequence[str] | None, name: str) -> list[str]:
    present = list(dict.fromkeys(record.lang for record in records))
    if not langs:
        return present
    chosen = [lang.strip() for lang in langs if lang.strip()]
    unknown = [lang for lang in chosen if lang not in present]
    if unknown:
        raise CorpusError(
            f"unknown language(s) {listing(unknown)}: {name} has {listing(sorted(present), 100)}"
        )
    if len(set(chosen)) != len(chosen):
        raise CorpusError.of(Problem("langs", f"names a language twice: {', '.join(chosen)}"))
    return chosen


def _complete_sids(
    by_key: dict[tuple[str, str], Record],
    langs: list[str],
    all_sids: list[str],
    drop_incomplete: bool,
    name: str,
) -> list[str]:
    """The sids present in every language; ``CorpusError`` naming the gaps unless
    ``drop_incomplete``."""
    sids_of: dict[str, set[str]] = defaultdict(set)
    for lang, sid in by_key:
        sids_of[lang].add(sid)
    missing = {lang: [sid for sid in all_sids if sid not in sids_of[lang]] for lang in langs}
    missing = {lang: sids for lang, sids in missing.items() if sids}
    if missing and not drop_incomplete:
        lines = [
            f"  {lang} lacks {len(sids)} sid(s): {listing(sids)}" for lang, sids in missing.items()
        ]
        raise CorpusError.naming(
            f"{name} is incomplete: every sid must exist in every language.\n"
            + "\n".join(lines)
            + "\nAdd the missing texts, choose languages with `langs`, or pass `drop_incomplete` "
            "to keep only the sids present in every language."
        )
    sids = [sid for sid in all_sids if all(sid in sids_of[lang] for lang in langs)]
    if not sids:
        raise CorpusError(
            f"{name}: no sid is present in every one of the languages {', '.join(langs)}"
        )
    return sids


def _sample(sids: list[str], samples: int, seed: int | None) -> list[str]:
    """A seeded subset of ``samples`` sids, in their order."""
    if samples < 1:
        raise CorpusError.of(Problem("samples", f"must be at least 1, got {samples}"))
    if samples > len(sids):
        problem = Problem(
            "samples", f"{samples} asks for more sids than the corpus has ({len(sids)})"
        )
        raise CorpusError.of(problem)
    if seed is None:
        raise CorpusError.of(
            Problem("samples", "needs `seed`, so the same subset can be drawn again")
        )
    chosen = set(random.Random(seed).sample(range(len(sids)), samples))
    return [sid for i, sid in enumerate(sids) if i in chosen]
