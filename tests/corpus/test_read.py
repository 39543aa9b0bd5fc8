import json

import pytest

from lfe.corpus import read_corpus, read_records, select
from lfe.errors import CorpusError
from tests.helpers import parallel_rows, write_tsv


def _same(a, b):
    return (a.langs, a.sids, a.texts) == (b.langs, b.sids, b.texts)


def test_every_layout_reads_the_same_corpus(tmp_path) -> None:
    rows = parallel_rows(n_sids=5)
    tsv = read_corpus(write_tsv(tmp_path / "c.tsv", rows))
    (tmp_path / "c.csv").write_text(
        "sid,lang,text,note\n" + "".join(f'{s},{l},"{t}",x\n' for l, s, t in rows), encoding="utf-8"
    )
    (tmp_path / "c.jsonl").write_text(
        "".join(
            json.dumps({"lang": l, "sid": int(s), "text": t}, ensure_ascii=False) + "\n"
            for l, s, t in rows
        ),
        encoding="utf-8",
    )
    directory = tmp_path / "aligned"
    directory.mkdir()
    for lang in ("en", "fr", "zh"):
        (directory / f"{lang}.txt").write_text(
            "".join(t + "\n" for l, s, t in rows if l == lang), encoding="utf-8"
        )
    assert tsv.langs == ("en", "fr", "zh")
    assert tsv.n_sids == 5
    assert len(tsv) == 15
    assert _same(tsv, read_corpus(tmp_path / "c.csv"))
    assert _same(tsv, read_corpus(tmp_path / "c.jsonl"))
    aligned = read_corpus(directory)
    assert aligned.sids == ("1", "2", "3", "4", "5")  # line numbers
    assert aligned.texts == tsv.texts


def test_corpus_order_is_language_then_sid(tmp_path) -> None:
    rows = parallel_rows(n_sids=3)
    corpus = read_corpus(write_tsv(tmp_path / "c.tsv", rows[::-1]), langs=["fr", "en"])
    assert corpus.langs == ("fr", "en")
    assert corpus.row_langs() == ["fr"] * 3 + ["en"] * 3
    assert corpus.row_sids() == ["2", "1", "0"] * 2  # first appearance
    assert corpus.texts[0] == dict(((l, s), t) for l, s, t in rows)[("fr", "2")]


def test_missing_column_names_the_header(tmp_path) -> None:
    path = write_tsv(tmp_path / "c.tsv", [("en", "hello")], header=("lang", "text"))
    with pytest.raises(CorpusError, match=r"missing column\(s\) sid.*\['lang', 'text'\]"):
        read_records(path)


def test_broken_utf8_names_the_line(tmp_path) -> None:
    path = tmp_path / "c.tsv"
    path.write_bytes(b"lang\tsid\ttext\nen\t1\thello\nen\t2\tbad \xff byte\n")
    with pytest.raises(CorpusError, match=r"c.tsv:3: not valid UTF-8"):
        read_records(path)


def test_empty_text_names_the_line(tmp_path) -> None:
    path = write_tsv(tmp_path / "c.tsv", [("en", "1", "hello"), ("en", "2", "  ")])
    with pytest.raises(CorpusError, match=r"empty text at .*c.tsv:3"):
        read_records(path)


def test_field_count_mismatch_names_the_line(tmp_path) -> None:
    path = tmp_path / "c.tsv"
    path.write_text("lang\tsid\ttext\nen\t1\ta\ttab inside\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"c.tsv:2 \(4 fields\).*tab inside a text"):
        read_records(path)


def test_duplicates_are_named_with_both_lines(tmp_path) -> None:
    path = write_tsv(tmp_path / "c.tsv", [("en", "1", "a"), ("en", "1", "b")])
    with pytest.raises(CorpusError, match=r"duplicate .*en/1 at .*c.tsv:2 and .*c.tsv:3"):
        read_corpus(path)


def test_incomplete_corpus_names_languages_and_sids(tmp_path) -> None:
    rows = [r for r in parallel_rows(n_sids=4) if not (r[0] == "fr" and r[1] in ("1", "3"))]
    path = write_tsv(tmp_path / "c.tsv", rows)
    with pytest.raises(
        CorpusError, match=r"(?s)incomplete.*fr lacks 2 sid\(s\): 1, 3.*pass drop_incomplete"
    ) as error:
        read_corpus(path)
    assert "en lacks" not in str(error.value)
    kept = read_corpus(path, drop_incomplete=True)
    assert kept.sids == ("0", "2")
    assert kept.selection.dropped_sids == 2
    assert read_corpus(path, langs=["en", "zh"]).n_sids == 4  # complete in the chosen languages


def test_unknown_language_lists_the_known_ones(tmp_path) -> None:
    with pytest.raises(CorpusError, match=r"unknown language\(s\) de: .*c.tsv has en, fr, zh"):
        read_corpus(write_tsv(tmp_path / "c.tsv", parallel_rows()), langs=["en", "de"])


def test_misaligned_directory_names_line_counts(tmp_path) -> None:
    (tmp_path / "en.txt").write_text("a\nb\nc\n", encoding="utf-8")
    (tmp_path / "fr.txt").write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"line counts differ \(en 3, fr 2\)"):
        read_records(tmp_path)


def test_bad_jsonl_and_unknown_format(tmp_path) -> None:
    (tmp_path / "c.jsonl").write_text(
        '{"lang": "en", "sid": 1, "text": "a"}\n{oops\n', encoding="utf-8"
    )
    with pytest.raises(CorpusError, match=r"c.jsonl:2: not valid JSON"):
        read_records(tmp_path / "c.jsonl")
    (tmp_path / "c.xlsx").write_text("x")
    with pytest.raises(CorpusError, match=r"unknown format .xlsx"):
        read_records(tmp_path / "c.xlsx")
    with pytest.raises(CorpusError, match=r"does not exist"):
        read_records(tmp_path / "nope.tsv")


def test_seeded_samples_are_reproducible_and_keep_order(tmp_path) -> None:
    path = write_tsv(tmp_path / "c.tsv", parallel_rows(n_sids=12))
    a = read_corpus(path, samples=5, seed=3)
    b = read_corpus(path, samples=5, seed=3)
    c = read_corpus(path, samples=5, seed=4)
    assert a.sids == b.sids
    assert a.sids != c.sids
    assert len(a.sids) == 5
    assert list(a.sids) == sorted(a.sids, key=int)  # corpus order kept
    assert a.fingerprint == b.fingerprint != c.fingerprint
    with pytest.raises(CorpusError, match="samples needs seed"):
        read_corpus(path, samples=5)
    with pytest.raises(CorpusError, match="more sids than the corpus has"):
        read_corpus(path, samples=50, seed=0)


def test_fingerprint_changes_with_any_text(tmp_path) -> None:
    rows = parallel_rows(n_sids=3)
    a = read_corpus(write_tsv(tmp_path / "a.tsv", rows))
    rows[4] = (rows[4][0], rows[4][1], rows[4][2] + "!")
    b = read_corpus(write_tsv(tmp_path / "b.tsv", rows))
    assert a.fingerprint != b.fingerprint
    assert len(a.fingerprint) == 64


def test_select_rejects_no_records() -> None:
    with pytest.raises(CorpusError, match="holds no texts"):
        select([])


def test_a_seed_without_samples_and_a_list_typed_sid_are_refused(tmp_path) -> None:
    path = write_tsv(tmp_path / "c.tsv", parallel_rows(n_sids=6))
    with pytest.raises(
        CorpusError, match="seed draws the samples subset; without samples it would change nothing"
    ):
        read_corpus(path, seed=3)
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text('{"lang": "en", "sid": [1, 2], "text": "a"}\n', encoding="utf-8")
    with pytest.raises(
        CorpusError,
        match=r"c.jsonl:1: lang and sid must be strings or whole numbers, got str and list",
    ):
        read_corpus(jsonl)


def test_sample_drops_incomplete_sids_when_asked(tmp_path) -> None:
    from click.testing import CliRunner

    from lfe.cli import main

    rows = [row for row in parallel_rows(n_sids=12) if not (row[0] == "zh" and row[1] == "3")]
    path = write_tsv(tmp_path / "c.tsv", rows)
    refused = CliRunner().invoke(
        main, ["corpus", "sample", str(path), "--samples", "4", "--seed", "0"]
    )
    assert refused.exit_code == 2
    assert "--drop-incomplete" in refused.output
    done = CliRunner().invoke(
        main,
        [
            "corpus",
            "sample",
            str(path),
            "--samples",
            "4",
            "--seed",
            "0",
            "--drop-incomplete",
            "--out-dir",
            str(tmp_path / "s"),
        ],
    )
    assert done.exit_code == 0, done.output
    assert "3" not in read_corpus(tmp_path / "s" / "probe.tsv").sids


def test_the_fingerprint_is_hashed_once_per_corpus(monkeypatch) -> None:
    import lfe.corpus.corpus as corpus_module

    calls = []
    real = corpus_module.rows_fingerprint
    monkeypatch.setattr(
        corpus_module, "rows_fingerprint", lambda *rows: calls.append(1) or real(*rows)
    )
    corpus = corpus_module.Corpus(("en", "fr"), ("1", "2"), ("a", "b", "c", "d"))
    assert (
        corpus.fingerprint
        == corpus.fingerprint
        == real(corpus.row_langs(), corpus.row_sids(), corpus.texts)
    )
    # a cluster worker asks at every block: hashing every text each time was the cost
    assert len(calls) == 1
