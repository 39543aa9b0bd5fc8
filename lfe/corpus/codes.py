"""Language codes: lfe's short (ISO 639-1) codes and FLORES's, in one table.

A corpus keeps the codes it came with (``en``, or ``eng_Latn`` from ``lfe corpus import flores``);
what needs to know which language a code means (English for the choice task and the demo's
steering, the language identifier of generated text) reads it through ``short_code``.
"""

from __future__ import annotations

from typing import Iterable

from lfe.errors import CorpusError

SHORT_CODES = {  # lfe's (ISO 639-1) codes -> FLORES codes
    "ar": "arb_Arab",
    "de": "deu_Latn",
    "en": "eng_Latn",
    "es": "spa_Latn",
    "fr": "fra_Latn",
    "hi": "hin_Deva",
    "id": "ind_Latn",
    "it": "ita_Latn",
    "ja": "jpn_Jpan",
    "ko": "kor_Hang",
    "nl": "nld_Latn",
    "pt": "por_Latn",
    "ru": "rus_Cyrl",
    "sv": "swe_Latn",
    "sw": "swh_Latn",
    "tr": "tur_Latn",
    "vi": "vie_Latn",
    "zh": "zho_Hans",
}
_FLORES_TO_SHORT = {flores: short for short, flores in SHORT_CODES.items()}
# the English name of each language, in lower case (as XL-Sum names its configs)
NAMES = {
    "ar": "arabic",
    "de": "german",
    "en": "english",
    "es": "spanish",
    "fr": "french",
    "hi": "hindi",
    "id": "indonesian",
    "it": "italian",
    "ja": "japanese",
    "ko": "korean",
    "nl": "dutch",
    "pt": "portuguese",
    "ru": "russian",
    "sv": "swedish",
    "sw": "swahili",
    "tr": "turkish",
    "vi": "vietnamese",
    "zh": "chinese_simplified",
}


def short_code(lang: str) -> str:
    """``lang`` as lfe's short code: a FLORES code in the table becomes its short code, anything
    else is kept."""
    return _FLORES_TO_SHORT.get(lang, lang)


def english_in(langs: Iterable[str]) -> str | None:
    """The code English has among ``langs`` (``en`` or ``eng_Latn``), or None."""
    return next((lang for lang in langs if short_code(lang) == "en"), None)


def language_name(lang: str) -> str:
    """The English name of ``lang`` (a short or FLORES code) as XL-Sum's configs spell it:
    "zh" -> "chinese_simplified"; ``CorpusError`` for a code lfe has no name for."""
    name = NAMES.get(short_code(lang))
    if name is None:
        raise CorpusError(
            f"lfe has no English name for the language {lang!r} (it knows {', '.join(NAMES)});"
            " use {lang} in the spec, or a folder of <lang>.txt files"
        )
    return name
