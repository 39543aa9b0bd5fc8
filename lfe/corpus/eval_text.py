"""Held-out text per language, for perplexity under deactivation (``lfe ablate --eval``).

Sources: a folder of ``<lang>.txt`` files (each file one text); any corpus lfe reads (a table, a
JSONL file, a ``save_to_disk`` folder, ``hf:NAME[:CONFIG][:SPLIT]``), its rows joined per language;
or one Hugging Face dataset per language, ``{lang}`` (lfe's code) or ``{name}`` (the language's
English name, as XL-Sum names its configs) in the spec, e.g. the paper's perplexity corpus
``hf:csebuetnlp/xlsum:{name}:test[:200]``, whose ``text`` column is read. The texts need not be
parallel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from lfe.corpus.codes import language_name
from lfe.corpus.read import read_records
from lfe.corpus.sources import hf
from lfe.errors import CorpusError

PLACEHOLDERS = ("{lang}", "{name}")


@dataclass(frozen=True)
class EvalTexts:
    """Each language's held-out text, and the sids it came from (empty where rows have none)."""

    texts: dict[str, str]
    sids: frozenset[str] = frozenset()


def read_eval_texts(source: str | Path, langs: Sequence[str]) -> EvalTexts:
    """The held-out text of every language in ``langs`` from ``source``; ``CorpusError`` naming
    the languages it lacks."""
    if any(mark in str(source) for mark in PLACEHOLDERS):
        found = EvalTexts({lang: _per_language(str(source), lang) for lang in langs})
    elif Path(source).is_dir() and not hf.is_saved_dataset(Path(source)):
        files = {lang: Path(source) / f"{lang}.txt" for lang in langs}
        found = EvalTexts(
            {
                lang: file.read_text(encoding="utf-8")
                for lang, file in files.items()
                if file.exists()
            }
        )
    else:
        records = [record for record in read_records(source) if record.lang in langs]
        found = EvalTexts(
            {
                lang: "\n".join(record.text for record in records if record.lang == lang)
                for lang in dict.fromkeys(record.lang for record in records)
            },
            frozenset(record.sid for record in records),
        )
    missing = [lang for lang in langs if not found.texts.get(lang, "").strip()]
    if missing:
        raise CorpusError(f"no evaluation text for {', '.join(missing)} in {source}")
    return found


def _per_language(spec: str, lang: str) -> str:
    """The texts of ``spec`` with ``lang`` put in for its placeholder, joined."""
    if not spec.startswith(hf.PREFIX):
        raise CorpusError(
            f"{spec}: {' and '.join(PLACEHOLDERS)} stand for a language in a Hugging Face dataset"
            " (hf:NAME:{name}:SPLIT); pass a folder of <lang>.txt files otherwise"
        )
    name = language_name(lang) if "{name}" in spec else ""
    where = spec.replace("{lang}", lang).replace("{name}", name)
    return "\n".join(hf.read_hub_texts(where.removeprefix(hf.PREFIX)))
