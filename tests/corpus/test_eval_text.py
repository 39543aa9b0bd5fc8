"""Held-out text for `lfe ablate --eval` from Hugging Face datasets, offline: one dataset per
language in XL-Sum's layout, and a saved table of (lang, sid, text) rows."""

import pytest

from lfe.corpus.eval_text import read_eval_texts
from lfe.errors import CorpusError
from tests.helpers import write_xlsum

ARTICLES = {
    "english": ["The river rose overnight.", "Markets were calm.", "A new bridge opened."],
    "french": ["La rivière a monté.", "Les marchés étaient calmes.", "Un pont a ouvert."],
}


@pytest.fixture
def offline(monkeypatch):
    import datasets
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


def test_one_dataset_per_language_by_its_english_name(offline, tmp_path) -> None:
    folder = write_xlsum(tmp_path / "xlsum", ARTICLES)
    held = read_eval_texts(f"hf:{folder}:{{name}}:test[:2]", ["en", "fr"])
    assert held.texts == {
        "en": "\n".join(ARTICLES["english"][:2]),
        "fr": "\n".join(ARTICLES["french"][:2]),
    }
    assert held.sids == frozenset()


def test_a_saved_table_need_not_be_parallel(offline, tmp_path) -> None:
    import datasets

    rows = {"lang": ["en", "en", "fr"], "sid": ["1", "2", "7"], "text": ["a b", "c d", "e f"]}
    datasets.Dataset.from_dict(rows).save_to_disk(str(tmp_path / "saved"))
    held = read_eval_texts(tmp_path / "saved", ["en", "fr"])
    assert held.texts == {"en": "a b\nc d", "fr": "e f"}
    assert held.sids == frozenset({"1", "2", "7"})


def test_bad_eval_sources_are_one_line(offline, tmp_path) -> None:
    folder = write_xlsum(tmp_path / "xlsum", ARTICLES)
    with pytest.raises(CorpusError, match=r"cannot load .*:zh:test .*BuilderConfig 'zh' not found"):
        read_eval_texts(f"hf:{folder}:{{lang}}:test", ["zh"])
    with pytest.raises(CorpusError, match="lfe has no English name for the language 'xx'"):
        read_eval_texts(f"hf:{folder}:{{name}}:test", ["xx"])
    with pytest.raises(CorpusError, match=r"stand for a language in a Hugging Face dataset"):
        read_eval_texts(str(tmp_path / "{lang}.txt"), ["en"])
