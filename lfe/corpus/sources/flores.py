"""FLORES-200 and FLORES+ from the user's own copy (their terms ask not to re-host them: lfe never
ships them).

The layouts users have, under a release folder (or its ``dev``/``devtest`` folder itself):

- FLORES-200: ``dev/eng_Latn.dev``, ``devtest/eng_Latn.devtest``, one sentence per line;
- FLORES+ text releases: ``dev/dev.eng_Latn``, ``devtest/devtest.eng_Latn``;
- FLORES+ parquet (the Hugging Face copy): ``dev/eng_Latn.parquet`` with ``id`` and ``text`` columns
  (needs pyarrow: ``pip install 'lfe[flores]'``).

Line i of every language is the same sentence: the sid is its FLORES id (1-based). Languages keep
their FLORES codes; ``--langs`` also takes lfe's short codes through
``lfe.corpus.codes.SHORT_CODES``.
"""

from __future__ import annotations

from pathlib import Path

from lfe.corpus.codes import SHORT_CODES
from lfe.errors import CorpusError, Problem, listing

SPLITS = ("dev", "devtest")


def flores_files(root: str | Path, split: str) -> dict[str, Path]:
    """FLORES code -> the file of ``split`` in whichever layout ``root`` holds."""
    if split not in SPLITS:
        raise CorpusError.of(Problem("split", f"{split!r} is not one of {', '.join(SPLITS)}"))
    root = Path(root)
    folder = root / split if (root / split).is_dir() else root
    if not folder.is_dir():
        raise CorpusError(
            f"{root} is not a folder; pass the FLORES release folder (the one holding dev/ and"
            " devtest/)"
        )
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        name = path.name
        if name.endswith(f".{split}"):  # FLORES-200
            found[name.removesuffix(f".{split}")] = path
        elif name.startswith(f"{split}."):  # FLORES+ text
            found[name.removeprefix(f"{split}.")] = path
        elif name.endswith(".parquet"):  # FLORES+ parquet
            found[name.removesuffix(".parquet")] = path
    if not found:
        raise CorpusError(
            f"no FLORES {split} files in {folder} (looked for eng_Latn.{split}, {split}.eng_Latn"
            " and eng_Latn.parquet)"
        )
    return found


def flores_code(lang: str, known: dict[str, Path]) -> str:
    """``lang`` as a FLORES code: itself when the release has it, else through ``SHORT_CODES``."""
    if lang in known:
        return lang
    code = SHORT_CODES.get(lang)
    if code is None or code not in known:
        raise CorpusError(
            f"no FLORES file for {lang!r}; the release has {listing(sorted(known))}"
            + (
                ""
                if lang in SHORT_CODES
                else f"; short codes lfe maps: {', '.join(sorted(SHORT_CODES))}"
            )
        )
    return code


def read_flores(
    root: str | Path, split: str = "dev", langs: list[str] | None = None
) -> list[tuple[str, str, str]]:
    """(FLORES code, id, sentence) rows of ``split`` for ``langs`` (default: every language in the
    release)."""
    files = flores_files(root, split)
    codes = (
        list(dict.fromkeys(flores_code(lang, files) for lang in langs)) if langs else list(files)
    )
    sentences = {code: _sentences(files[code]) for code in codes}
    counts = {code: len(lines) for code, lines in sentences.items()}
    if len(set(counts.values())) > 1:
        raise CorpusError(
            f"FLORES files of {split} differ in length"
            f" ({listing([f'{c}: {n}' for c, n in counts.items()])}): line i must be the same"
            " sentence in every language; is one file truncated?"
        )
    return [
        (code, str(index), text)
        for code, lines in sentences.items()
        for index, text in enumerate(lines, start=1)
    ]


def _sentences(path: Path) -> list[str]:
    """The file's sentences in FLORES order; an empty one (a blank line, a missing text) is
    refused, since it would shift no line yet pair nothing."""
    sentences = _text_lines(path) if path.suffix != ".parquet" else _parquet_texts(path)
    empty = [index for index, text in enumerate(sentences, start=1) if not (text or "").strip()]
    if empty:
        raise CorpusError(
            f"{path}: sentence {listing(empty)} is empty (a blank line); FLORES has a sentence on"
            " every line: is the file damaged, or another file's?"
        )
    return sentences


def _text_lines(path: Path) -> list[str]:
    """Lines ended by LF or CRLF (not by the other characters ``str.splitlines`` breaks at, which
    may sit inside a sentence), a byte-order mark dropped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise CorpusError(
            f"{path} is not UTF-8 text (byte {error.start}); FLORES files are UTF-8: fetch it again"
        ) from None
    lines = text.replace("\r\n", "\n").split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def _parquet_texts(path: Path) -> list[str]:
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise CorpusError(
            f"{path.name} is parquet, which needs pyarrow: pip install 'lfe[flores]'"
        ) from None
    try:
        table = parquet.read_table(path)
    except Exception as error:  # noqa: BLE001 - pyarrow's own error types for a damaged or foreign file
        raise CorpusError(
            f"{path} is not a readable parquet file ({type(error).__name__}); fetch it again"
        ) from None
    column = "text" if "text" in table.column_names else "sentence"
    if column not in table.column_names:
        raise CorpusError(f"{path} has no text column (columns: {', '.join(table.column_names)})")
    order = table.column("id").to_pylist() if "id" in table.column_names else None
    texts = table.column(column).to_pylist()
    return [text for _, text in sorted(zip(order, texts))] if order else texts
