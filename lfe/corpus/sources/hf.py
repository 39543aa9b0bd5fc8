"""Hugging Face ``datasets`` as parallel corpora: ``hf:NAME[:CONFIG][:SPLIT]`` and folders written
by ``save_to_disk``.

Two shapes are read:

- a (language, id, text) table: columns ``lang`` (or ``language``), ``sid`` (or ``id``) and ``text``
  (or ``sentence``);
- a text column per language, row i being sid i (its ``id`` when the dataset has one, else i counted
  from 1): columns named ``sentence_<code>`` (FLORES on the Hub) when there are any, else every
  string column but ``id``; or one ``translation`` column of {language: text} dicts (WMT, OPUS).

``datasets`` is optional (``pip install 'lfe[hf]'``); without it, or without the network for a Hub
name, the error says so in one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lfe.corpus.corpus import Record
from lfe.errors import CorpusError, listing

PREFIX = "hf:"
EXTRA = "pip install 'lfe[hf]'"
TABLE = {"lang": ("lang", "language"), "sid": ("sid", "id"), "text": ("text", "sentence")}
PER_LANGUAGE_PREFIX = "sentence_"


def is_saved_dataset(path: Path) -> bool:
    """Whether ``path`` is a folder ``save_to_disk`` wrote (a Dataset's or a DatasetDict's)."""
    return (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()


def read_hub(spec: str) -> list[Record]:
    """The records of ``hf:NAME[:CONFIG][:SPLIT]`` (``spec`` without the prefix), through
    ``datasets.load_dataset``."""
    return _records(_one_split(_load(spec), PREFIX + spec), PREFIX + spec)


def _load(spec: str) -> Any:
    """``datasets.load_dataset`` of ``NAME[:CONFIG][:SPLIT]``, its failure one ``CorpusError``."""
    # a split may hold a colon itself: "test[:200]"
    name, config, split = (spec.split(":", 2) + ["", ""])[:3]
    where = PREFIX + spec
    if not name:
        raise CorpusError(f"{where}: name a dataset, as hf:NAME[:CONFIG][:SPLIT]")
    try:
        loaded = _datasets().load_dataset(name, config or None, split=split or None)
    except CorpusError:
        raise
    except Exception as error:  # noqa: BLE001 - no network, an unknown name, config or split: datasets raises many types
        why = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CorpusError(
            f"cannot load {where} ({type(error).__name__}: {why[:200]}); check the name, config and"
            " split and the network, or save the dataset with save_to_disk and pass its folder"
        ) from None
    return loaded


def read_hub_texts(spec: str) -> list[str]:
    """The ``text`` (or ``sentence``) column of ``hf:NAME[:CONFIG][:SPLIT]``, one language's texts
    (XL-Sum's articles, say)."""
    where = PREFIX + spec
    dataset = _one_split(_load(spec), where)
    column = next((name for name in TABLE["text"] if name in dataset.column_names), None)
    if column is None:
        raise CorpusError(
            f"{where} has the columns {listing(dataset.column_names)}: lfe reads its text from a"
            " text (or sentence) column"
        )
    return [str(text) for text in dataset[column]]


def read_saved(path: Path) -> list[Record]:
    """The records of a folder written by ``Dataset.save_to_disk`` (or a DatasetDict's, with one
    split)."""
    try:
        loaded = _datasets().load_from_disk(str(path))
    except CorpusError:
        raise
    except Exception as error:  # noqa: BLE001 - a damaged or partial folder
        raise CorpusError(
            f"{path} looks like a save_to_disk folder but cannot be read ({type(error).__name__})"
        ) from None
    return _records(_one_split(loaded, str(path)), str(path))


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise CorpusError(
            f"reading Hugging Face datasets needs the datasets package, an optional extra: {EXTRA}"
        ) from None
    return datasets


def _one_split(loaded: Any, where: str) -> Any:
    # a Dataset; a DatasetDict maps splits to column lists
    if isinstance(loaded.column_names, list):
        return loaded
    splits = list(loaded)
    if len(splits) == 1:
        return loaded[splits[0]]
    raise CorpusError(
        f"{where} has the splits {', '.join(splits)}; name one (hf:NAME:CONFIG:SPLIT, or the"
        " split's folder inside a save_to_disk folder)"
    )


def _records(dataset: Any, where: str) -> list[Record]:
    columns = list(dataset.column_names)
    table = {
        role: next((name for name in names if name in columns), None)
        for role, names in TABLE.items()
    }
    if all(table.values()):
        langs, sids, texts = (dataset[table[role]] for role in ("lang", "sid", "text"))
        return [
            Record(str(lang), str(sid), str(text), f"{where}:{row}")
            for row, (lang, sid, text) in enumerate(zip(langs, sids, texts), start=1)
        ]
    per_language = _language_columns(dataset, columns)
    if len(per_language) < 2:
        raise CorpusError(
            f"{where} has the columns {listing(columns)}: lfe needs lang, sid and text columns, a "
            f"{PER_LANGUAGE_PREFIX}<language> column per language, or a translation column"
        )
    ids = (
        [str(value) for value in dataset["id"]]
        if "id" in columns
        else [str(row) for row in range(1, len(dataset) + 1)]
    )
    # a row without this language (a pair) gives no text
    return [
        Record(lang, sid, str(text), f"{where}:{row}")
        for lang, texts in per_language.items()
        for row, (sid, text) in enumerate(zip(ids, texts), start=1)
        if text is not None
    ]


def _language_columns(dataset: Any, columns: list[str]) -> dict[str, list]:
    """{language: its texts in row order} of a dataset with a text column per language."""
    if "translation" in columns:
        pairs = dataset["translation"]
        langs = sorted({lang for pair in pairs for lang in pair})
        return {lang: [pair.get(lang) for pair in pairs] for lang in langs}
    prefixed = [name for name in columns if name.startswith(PER_LANGUAGE_PREFIX)]
    strings = [
        name
        for name in columns
        if name != "id" and getattr(dataset.features[name], "dtype", None) == "string"
    ]
    return {name.removeprefix(PER_LANGUAGE_PREFIX): dataset[name] for name in prefixed or strings}
