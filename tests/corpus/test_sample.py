"""Held-out evaluation data: disjoint from the probed sids, and choice items that never show probed
text."""

from lfe.corpus import Corpus
from lfe.corpus.sample import choice_task, split

LANGS = ("en", "fr")
SIDS = tuple(str(i) for i in range(40))
CORPUS = Corpus(LANGS, SIDS, tuple(f"{lang}-{sid}" for lang in LANGS for sid in SIDS))


def _shown(items) -> set[str]:
    return {text for item in items for text in item.context.split(" ") + list(item.endings)}


def test_choice_items_never_show_a_probed_text() -> None:
    probe, held = split(CORPUS, 12, 12, seed=0)
    assert not set(probe) & set(held)
    probed_texts = {f"{lang}-{sid}" for lang in LANGS for sid in probe}
    unguarded = choice_task(CORPUS, held, seed=0)
    assert _shown(unguarded) & probed_texts  # without the guard this corpus does show probed verses
    items = choice_task(CORPUS, held, seed=0, avoid=frozenset(probe))
    assert items
    assert not _shown(items) & probed_texts
    for item in items:
        assert item.endings[item.label] == f"en-{item.sid}"


def test_a_language_code_never_writes_outside_the_output_folder(tmp_path) -> None:
    import pytest

    from lfe.corpus import write_tsv
    from lfe.corpus.sample import sample_corpus
    from lfe.errors import CorpusError

    rows = [
        (lang, str(sid), f"{lang} text {sid}")
        for lang in ("en", "../../escaped")
        for sid in range(8)
    ]
    path = write_tsv(tmp_path / "in" / "c.tsv", rows)
    with pytest.raises(CorpusError, match="'../../escaped' cannot name a file"):
        sample_corpus(path, samples=3, seed=0, holdout=3, out_dir=tmp_path / "in" / "out")
    assert not list(tmp_path.rglob("escaped*"))
