"""Readers for the corpus layouts lfe accepts.

- a TSV, CSV or JSONL file with the columns ``lang``, ``sid``, ``text`` (extra columns are ignored);
- a directory of aligned files, one per language (``en.txt``, ``fr.txt``, ...), where line i of
  every file is sid i (counted from 1, like the line numbers in error messages);
- a Hugging Face dataset: ``hf:NAME[:CONFIG][:SPLIT]``, or a folder written by ``save_to_disk``
  (``lfe.corpus.sources.hf``; the optional ``datasets`` package).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Literal, Sequence

from lfe.corpus.corpus import Corpus, Record, select
from lfe.corpus.sources import hf
from lfe.errors import CorpusError, listing

REQUIRED_COLUMNS = ("lang", "sid", "text")
TABLE_FORMATS = {".tsv": "\t", ".csv": ","}


def read_corpus(
    path: str | Path,
    *,
    langs: Sequence[str] | None = None,
    samples: int | None = None,
    seed: int | None = None,
    drop_incomplete: bool = False,
) -> Corpus:
    """Read, check and select a corpus in one call (see ``read_records`` and ``select``)."""
    return select(
        read_records(path),
        langs=langs,
        samples=samples,
        seed=seed,
        drop_incomplete=drop_incomplete,
        source=str(path),
    )


MAX_TEXT_CHARS = 1 << 24


def read_records(path: str | Path) -> list[Record]:
    """Every text of the corpus at ``path``, each with the file and line it came from."""
    if str(path).startswith(hf.PREFIX):
        return _check_text(hf.read_hub(str(path).removeprefix(hf.PREFIX)))
    path = Path(path)
    if not path.exists():
        raise CorpusError(f"corpus {path} does not exist")
    if path.is_dir():
        return (
            _check_text(hf.read_saved(path)) if hf.is_saved_dataset(path) else _read_directory(path)
        )
    suffix = path.suffix.lower()
    if suffix in TABLE_FORMATS:
        return _read_table(path, TABLE_FORMATS[suffix])
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(path)
    raise CorpusError(
        f"corpus {path}: unknown format {suffix or '(no extension)'}; use .tsv, .csv, .jsonl a"
        " directory with one file per language, or a Hugging Face dataset"
        " (hf:NAME[:CONFIG][:SPLIT])"
    )


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise CorpusError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{data[error.start]:02x}); save the file as"
            " UTF-8"
        ) from None
    return text.removeprefix("\ufeff")


def _check_text(records: list[Record]) -> list[Record]:
    problems = [r.where for r in records if not r.text.strip()]
    if problems:
        raise CorpusError(f"empty text at {listing(problems)}; remove these rows or fill them in")
    problems = [r.where for r in records if not r.lang.strip() or not r.sid.strip()]
    if problems:
        raise CorpusError(f"empty lang or sid at {listing(problems)}")
    return records


def _read_table(path: Path, delimiter: str) -> list[Record]:
    # TSV has no quoting convention: a quote is part of the text. CSV uses standard quoting.
    quoting: Literal[0, 1, 2, 3] = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    # the default, 131,072, is one long document
    csv.field_size_limit(max(csv.field_size_limit(), MAX_TEXT_CHARS))
    reader = csv.reader(
        io.StringIO(_decode(path), newline=""), delimiter=delimiter, quoting=quoting
    )
    try:
        header = next(reader)
    except StopIteration:
        raise CorpusError(
            f"{path} is empty; it needs a header line with {', '.join(REQUIRED_COLUMNS)}"
        ) from None
    header = [name.strip() for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise CorpusError(
            f"{path}: missing column(s) {', '.join(missing)}; the header line has {header} "
            f"and must name {', '.join(REQUIRED_COLUMNS)}"
        )
    index = {name: header.index(name) for name in REQUIRED_COLUMNS}
    records, bad = [], []
    try:
        for fields in reader:
            where = f"{path}:{reader.line_num}"
            if not fields or fields == [""]:
                continue
            if len(fields) != len(header):
                bad.append(f"{where} ({len(fields)} fields)")
                continue
            records.append(
                Record(
                    fields[index["lang"]].strip(),
                    fields[index["sid"]].strip(),
                    fields[index["text"]],
                    where,
                )
            )
    except csv.Error as error:
        raise CorpusError(f"{path}:{reader.line_num}: {error}") from None
    if bad:
        raise CorpusError(
            f"rows whose field count differs from the header's {len(header)}: {listing(bad)}"
            + ("; a tab inside a text splits it" if delimiter == "\t" else "")
        )
    return _check_text(records)


def _read_jsonl(path: Path) -> list[Record]:
    records = []
    for number, line in enumerate(_decode(path).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise CorpusError(f"{where}: not valid JSON ({error.msg})") from None
        if not isinstance(item, dict):
            raise CorpusError(
                f"{where}: each line must be a JSON object with {', '.join(REQUIRED_COLUMNS)}"
            )
        missing = [name for name in REQUIRED_COLUMNS if name not in item]
        if missing:
            raise CorpusError(f"{where}: missing key(s) {', '.join(missing)}")
        if not isinstance(item["text"], str):
            raise CorpusError(f"{where}: text must be a string, got {type(item['text']).__name__}")
        if not all(
            isinstance(item[key], (str, int)) and not isinstance(item[key], bool)
            for key in ("lang", "sid")
        ):
            raise CorpusError(
                f"{where}: lang and sid must be strings or whole numbers, got "
                f"{type(item['lang']).__name__} and {type(item['sid']).__name__}"
            )
        records.append(
            Record(str(item["lang"]).strip(), str(item["sid"]).strip(), item["text"], where)
        )
    if not records:
        raise CorpusError(f"{path} holds no texts")
    return _check_text(records)


def _read_directory(path: Path) -> list[Record]:
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise CorpusError(
            f"{path} holds no files; put one file per language in it (en.txt, fr.txt, ...)"
        )
    langs = [p.stem for p in files]
    doubled = sorted({lang for lang in langs if langs.count(lang) > 1})
    if doubled:
        raise CorpusError(f"{path}: more than one file for language(s) {', '.join(doubled)}")
    records, counts = [], {}
    for file in files:
        lines = _decode(file).split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the final newline ends the last line; it does not start a new one
        counts[file.stem] = len(lines)
        records += [
            Record(file.stem, str(number), line.removesuffix("\r"), f"{file}:{number}")
            for number, line in enumerate(lines, start=1)
        ]
    if len(set(counts.values())) > 1:
        sizes = ", ".join(f"{name} {count}" for name, count in counts.items())
        raise CorpusError(
            f"{path}: the language files are not aligned: line counts differ ({sizes}); "
            "line i of every file must be the translation of line i of the others"
        )
    return _check_text(records)
