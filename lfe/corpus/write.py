"""Writing corpora in the layouts ``read_corpus`` reads back: one TSV writer, one directory
writer."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from lfe.errors import CorpusError

HEADER = ("lang", "sid", "text")
# TSV has no quoting: a tab or line break inside a text would split it
_BREAKS = re.compile(r"[\t\r\n]")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def write_tsv(path: str | Path, rows: Iterable[tuple[str, str, str]]) -> Path:
    """(lang, sid, text) rows as a TSV corpus file; tabs and line breaks in texts become spaces."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\t".join(HEADER) + "\n")
        for lang, sid, text in rows:
            handle.write(f"{lang}\t{sid}\t{_BREAKS.sub(' ', text)}\n")
    return path


def write_directory(folder: str | Path, texts: dict[str, list[str]]) -> Path:
    """One ``<lang>.txt`` per language, line i of each being the same sid: the aligned directory
    layout."""
    folder = Path(folder)
    unsafe = [lang for lang in texts if not _SAFE_NAME.match(lang)]
    if unsafe:
        raise CorpusError(
            f"language code(s) {', '.join(map(repr, unsafe))} cannot name a file; use codes of "
            "letters, digits, '_', '-' and '.'"
        )
    folder.mkdir(parents=True, exist_ok=True)
    for lang, lines in texts.items():
        (folder / f"{lang}.txt").write_text(
            "".join(_BREAKS.sub(" ", line) + "\n" for line in lines), encoding="utf-8"
        )
    return folder
