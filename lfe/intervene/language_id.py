"""Which language a generated text is in, offline: py3langid (langid.py's model, 140 language
labels, shipped inside its 4.6 MB BSD-3-Clause wheel; a naive Bayes over byte n-grams,
deterministic).

Chosen over lingua (more accurate on very short texts, but a 96 MB wheel) and langdetect (random
unless seeded, no wheel). lfe's short codes are ISO 639-1 like langid's ("en", "zh", ...); a study
in FLORES codes ("eng_Latn") gets its own codes back (``lfe.corpus.codes``); a text with no letters
is "none"; a language the model does not know is never returned.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any, Iterable

from lfe.corpus.codes import short_code
from lfe.records import OTHER, SHARES, SOURCE, TARGET, LanguageShares

# Varieties the identifier tells apart but a study of "ar" or "zh" counts as one language (on the
# demo's held-out verses it calls a third of the Indonesian ones Malay): when a study has exactly
# one member of a group, the others are read as it.
VARIETIES = (
    ("ar", "ary", "arz"),
    ("zh", "wuu", "yue"),
    ("id", "ms"),
    ("no", "nb", "nn"),
    ("hr", "bs", "sr"),
)
NO_TEXT = "none"  # a continuation with nothing to identify (empty, digits, punctuation)


@functools.lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE)


def identify(texts: Iterable[str], study: Iterable[str] = ()) -> list[str]:
    """Each text's language code (langid's, varieties and FLORES codes read as the ``study``'s), or
    ``NO_TEXT``."""
    identifier = _identifier()
    study_codes = {short_code(lang): lang for lang in study}  # langid's code -> the study's
    study = set(study_codes)
    read_as = {
        variety: chosen
        for group in VARIETIES
        for chosen in group
        if chosen in study and len(study.intersection(group)) == 1
        for variety in group
    }
    found = [
        identifier.classify(text)[0] if any(char.isalpha() for char in text) else NO_TEXT
        for text in texts
    ]
    return [study_codes.get(read_as.get(lang, lang), lang) for lang in found]


def known_languages() -> set[str]:
    """The codes ``identify`` can return (besides ``NO_TEXT``)."""
    return set(_identifier().nb_classes)


def switch_shares(found: list[str], source: str, target: str) -> LanguageShares:
    """The shares of texts identified as ``target``, as ``source`` and as anything else (no text
    included)."""
    counts = Counter(
        TARGET if lang == target else SOURCE if lang == source else OTHER for lang in found
    )
    return LanguageShares(
        **{kind: counts[kind] / len(found) if found else float("nan") for kind in SHARES}
    )


def same_language_share(found: list[str], prompt_langs: list[str]) -> float:
    """The share of continuations identified as their prompt's language."""
    return (
        sum(lang == prompt for lang, prompt in zip(found, prompt_langs)) / len(found)
        if found
        else float("nan")
    )
