"""Hugging Face datasets as corpora, offline: datasets the test builds, saved with save_to_disk or
as parquet files."""

import builtins

import datasets
import pytest
from click.testing import CliRunner

from lfe.cli import main
from lfe.corpus import read_corpus
from lfe.errors import CorpusError
from tests.helpers import PHRASES, parallel_rows

LANGS = ("en", "fr", "zh")


@pytest.fixture(autouse=True)
def offline(monkeypatch) -> None:
    """No Hub: what is not on this disk fails at once instead of retrying the network."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)


def test_a_language_id_text_table_saved_to_disk(tmp_path) -> None:
    rows = parallel_rows(langs=LANGS, n_sids=6)
    table = datasets.Dataset.from_dict(
        {
            "language": [r[0] for r in rows],
            "id": [int(r[1]) for r in rows],
            "text": [r[2] for r in rows],
            "domain": ["news"] * len(rows),
        }
    )
    table.save_to_disk(tmp_path / "table")
    corpus = read_corpus(tmp_path / "table")
    assert corpus.langs == LANGS
    assert list(corpus.sids) == [str(i) for i in range(6)]
    assert list(corpus.texts) == [r[2] for r in rows]


def test_a_column_per_language_as_flores_on_the_hub_and_its_splits(tmp_path) -> None:
    rows = {lang: [f"{PHRASES[lang]} {i}" for i in range(5)] for lang in LANGS}
    columns = {
        "id": list(range(1, 6)),
        "URL": ["u"] * 5,
        **{f"sentence_{lang}": texts for lang, texts in rows.items()},
    }
    splits = datasets.DatasetDict(
        {"dev": datasets.Dataset.from_dict(columns), "devtest": datasets.Dataset.from_dict(columns)}
    )
    splits.save_to_disk(tmp_path / "flores")
    with pytest.raises(CorpusError, match="has the splits dev, devtest; name one"):
        read_corpus(tmp_path / "flores")
    corpus = read_corpus(tmp_path / "flores" / "dev")  # the split's own folder
    assert corpus.langs == LANGS
    assert list(corpus.sids) == ["1", "2", "3", "4", "5"]
    assert list(corpus.texts)[:2] == rows["en"][:2]
    # the same as data files read by load_dataset: hf:FOLDER[:CONFIG][:SPLIT]
    datasets.Dataset.from_dict(columns).to_parquet(
        str(tmp_path / "hub" / "data" / "dev-00000.parquet")
    )
    # datasets reads dev-* files as that split
    from_files = read_corpus(f"hf:{tmp_path / 'hub'}::validation")
    assert from_files.langs == LANGS
    assert list(from_files.texts) == list(corpus.texts)
    with pytest.raises(CorpusError, match='cannot load hf:.*Unknown split "train"'):
        read_corpus(f"hf:{tmp_path / 'hub'}::train")


def test_a_translation_column_of_pairs(tmp_path) -> None:
    pairs = [{"en": f"{PHRASES['en']} {i}", "fr": f"{PHRASES['fr']} {i}"} for i in range(4)]
    datasets.Dataset.from_dict({"translation": pairs}).save_to_disk(tmp_path / "pairs")
    corpus = read_corpus(tmp_path / "pairs")
    assert corpus.langs == ("en", "fr")
    assert len(corpus) == 8


def test_errors_are_one_line_and_name_the_fix(tmp_path, monkeypatch) -> None:
    datasets.Dataset.from_dict({"id": [1, 2], "score": [0.5, 0.7]}).save_to_disk(
        tmp_path / "scores"
    )
    with pytest.raises(
        CorpusError, match="has the columns id, score: lfe needs lang, sid and text columns"
    ):
        read_corpus(tmp_path / "scores")
    with pytest.raises(
        CorpusError, match="cannot load hf:no-such-org/no-such-dataset .*save_to_disk"
    ):
        read_corpus("hf:no-such-org/no-such-dataset")
    sample = CliRunner().invoke(
        main, ["corpus", "sample", "hf:no-such-org/x", "--samples", "2", "--seed", "0"]
    )
    assert sample.exit_code == 2
    assert "pass --out-dir" in sample.output
    real_import = builtins.__import__
    monkeypatch.setattr(
        builtins,
        "__import__",
        lambda name, *a, **k: (
            (_ for _ in ()).throw(ImportError(name))
            if name == "datasets"
            else real_import(name, *a, **k)
        ),
    )
    with pytest.raises(
        CorpusError, match=r"needs the datasets package, an optional extra: pip install 'lfe\[hf\]'"
    ):
        read_corpus(tmp_path / "scores")


def test_the_cli_takes_a_dataset_wherever_it_takes_a_corpus(tmp_path) -> None:
    rows = parallel_rows(langs=LANGS, n_sids=8)
    datasets.Dataset.from_dict(
        {"lang": [r[0] for r in rows], "sid": [r[1] for r in rows], "text": [r[2] for r in rows]}
    ).to_parquet(str(tmp_path / "hub" / "train.parquet"))
    result = CliRunner().invoke(
        main,
        [
            "corpus",
            "sample",
            f"hf:{tmp_path / 'hub'}",
            "--samples",
            "4",
            "--seed",
            "0",
            "--out-dir",
            str(tmp_path / "drawn"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(read_corpus(tmp_path / "drawn" / "probe.tsv")) == 12
