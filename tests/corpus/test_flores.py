"""`lfe corpus import flores`: the layouts users have, written here with lfe's own sentences (no
FLORES text)."""

import builtins

import pytest
from click.testing import CliRunner

from lfe.cli import main
from lfe.corpus import read_corpus
from tests.helpers import PHRASES

CODES = {"en": "eng_Latn", "fr": "fra_Latn", "zh": "zho_Hans"}


def _release(root, layout, split="dev", lines=3):
    folder = root / split
    folder.mkdir(parents=True)
    for short, code in CODES.items():
        name = {"flores200": f"{code}.{split}", "floresplus": f"{split}.{code}"}[layout]
        (folder / name).write_text(
            "".join(f"{PHRASES[short]} {i}\n" for i in range(1, lines + 1)), encoding="utf-8"
        )
    return root


@pytest.mark.parametrize("layout", ["flores200", "floresplus"])
def test_both_text_layouts_become_a_parallel_corpus_with_flores_codes(layout, tmp_path) -> None:
    root = _release(tmp_path / "release", layout, split="devtest")
    result = CliRunner().invoke(
        main,
        [
            "corpus",
            "import",
            "flores",
            str(root),
            "--split",
            "devtest",
            "--langs",
            "en,zho_Hans",
            "--out",
            str(tmp_path / "flores.tsv"),
        ],
    )
    assert result.exit_code == 0, result.output
    corpus = read_corpus(tmp_path / "flores.tsv")
    assert list(corpus.langs) == ["eng_Latn", "zho_Hans"]
    assert list(corpus.sids) == ["1", "2", "3"]
    assert list(corpus.texts)[:2] == [f"{PHRASES['en']} 1", f"{PHRASES['en']} 2"]
    every = CliRunner().invoke(
        main,
        [
            "corpus",
            "import",
            "flores",
            str(root / "devtest"),
            "--split",
            "devtest",
            # the split folder itself, every language
            "--out",
            str(tmp_path / "all.tsv"),
        ],
    )
    assert every.exit_code == 0
    assert sorted(read_corpus(tmp_path / "all.tsv").langs) == sorted(CODES.values())


def test_bad_releases_are_refused_in_one_line(tmp_path) -> None:
    root = _release(tmp_path / "release", "flores200")
    (root / "dev" / "fra_Latn.dev").write_text("one line only\n", encoding="utf-8")
    (tmp_path / "parquet" / "dev").mkdir(parents=True)
    (tmp_path / "parquet" / "dev" / "eng_Latn.parquet").write_bytes(b"PAR1")
    for args, message in (
        (["--langs", "en,fr"], "differ in length"),
        (["--langs", "de"], "no FLORES file for 'de'"),
        (["--langs", "xx"], "short codes lfe maps"),
        (["--split", "devtest"], "no FLORES devtest files"),
    ):
        result = CliRunner().invoke(
            main, ["corpus", "import", "flores", str(root), *args, "--out", str(tmp_path / "x.tsv")]
        )
        assert result.exit_code == 2, args
        assert message in result.output, args
        assert len(result.output.strip().splitlines()) == 1, args
    parquet = CliRunner().invoke(
        main,
        ["corpus", "import", "flores", str(tmp_path / "parquet"), "--out", str(tmp_path / "p.tsv")],
    )
    assert parquet.exit_code == 2
    assert "is not a readable parquet file" in parquet.output
    assert not (tmp_path / "x.tsv").exists()


@pytest.mark.parametrize(
    ("english", "message"),
    [
        (b"a 1\n\na 3\n", "eng_Latn.dev: sentence 2 is empty (a blank line)"),
        (b"a 1\na 2\na 3\n\n", "eng_Latn.dev: sentence 4 is empty"),
        (b"caf\xe9 1\na 2\na 3\n", "eng_Latn.dev is not UTF-8 text (byte 3)"),
        (b"a 1\na 2\n", "differ in length (eng_Latn: 2, fra_Latn: 3, zho_Hans: 3)"),
    ],
)
def test_damaged_files_are_refused_naming_file_and_line(english, message, tmp_path) -> None:
    root = _release(tmp_path / "release", "flores200")
    (root / "dev" / "eng_Latn.dev").write_bytes(english)
    out = tmp_path / "x.tsv"
    result = CliRunner().invoke(main, ["corpus", "import", "flores", str(root), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_a_byte_order_mark_crlf_and_a_line_separator_inside_a_sentence_keep_the_lines(
    tmp_path,
) -> None:
    root = _release(tmp_path / "release", "flores200")
    (root / "dev" / "eng_Latn.dev").write_bytes(
        "\ufeffa 1\r\na\u2028two 2\r\na 3\r\n".encode("utf-8")
    )
    out = tmp_path / "x.tsv"
    result = CliRunner().invoke(main, ["corpus", "import", "flores", str(root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    corpus = read_corpus(out)
    rows = zip(corpus.row_langs(), corpus.row_sids(), corpus.texts)
    english = {sid: text for lang, sid, text in rows if lang == "eng_Latn"}
    assert english == {"1": "a 1", "2": "a\u2028two 2", "3": "a 3"}


def test_the_parquet_layout_reads_as_the_text_layout_and_needs_its_extra(
    tmp_path, monkeypatch
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    text = _release(tmp_path / "text", "floresplus")
    (tmp_path / "parquet" / "dev").mkdir(parents=True)
    for code in CODES.values():  # rows stored out of order: the id column gives the order
        lines = (text / "dev" / f"dev.{code}").read_text(encoding="utf-8").splitlines()
        pq.write_table(
            pa.table({"id": [3, 1, 2], "text": [lines[2], lines[0], lines[1]]}),
            tmp_path / "parquet" / "dev" / f"{code}.parquet",
        )
    runner = CliRunner()
    for name, root in (("text", text), ("parquet", tmp_path / "parquet")):
        result = runner.invoke(
            main, ["corpus", "import", "flores", str(root), "--out", str(tmp_path / f"{name}.tsv")]
        )
        assert result.exit_code == 0, result.output
    assert (tmp_path / "parquet.tsv").read_bytes() == (tmp_path / "text.tsv").read_bytes()
    real_import = builtins.__import__
    monkeypatch.setattr(
        builtins,
        "__import__",
        lambda name, *a, **k: (
            (_ for _ in ()).throw(ImportError(name))
            if name.startswith("pyarrow")
            else real_import(name, *a, **k)
        ),
    )
    missing = runner.invoke(
        main,
        ["corpus", "import", "flores", str(tmp_path / "parquet"), "--out", str(tmp_path / "m.tsv")],
    )
    assert missing.exit_code == 2
    assert "needs pyarrow: pip install 'lfe[flores]'" in missing.output


def test_two_commands_from_a_flores_copy_to_a_report(tmp_path) -> None:
    """`lfe corpus import flores` then `lfe demo --corpus`: sampled, extracted, analysed,
    deactivated and steered from English, FLORES codes kept all the way (offline: the tiny random
    model)."""
    root = _release(tmp_path / "release", "floresplus", lines=12)
    runner = CliRunner()
    imported = runner.invoke(
        main, ["corpus", "import", "flores", str(root), "--out", str(tmp_path / "flores.tsv")]
    )
    assert imported.exit_code == 0, imported.output
    out = tmp_path / "out"
    result = runner.invoke(
        main,
        [
            "demo",
            "--corpus",
            str(tmp_path / "flores.tsv"),
            "--model",
            "tiny",
            "--out",
            str(out),
            "--samples",
            "8",
            "--holdout",
            "4",
            "--eval-verses",
            "2",
            "--train-steps",
            "0",
            "--threshold",
            "1",
        ],
    )  # 3 languages: z reaches at most sqrt(2)
    assert result.exit_code == 0, result.output
    assert "tiny: written, 24 rows" in result.output  # 3 languages x 8 sampled rows
    report = (out / "analysis" / "tiny" / "report.md").read_text(encoding="utf-8")
    assert "## Causal tests" in report
    assert "| eng_Latn | fra_Latn |" in report
    assert sorted(path.name for path in (out / "sample" / "holdout").iterdir()) == [
        f"{code}.txt" for code in sorted(CODES.values())
    ]
    missing = runner.invoke(
        main, ["demo", "--corpus", str(tmp_path / "nothing.tsv"), "--model", "tiny"]
    )
    assert missing.exit_code == 2
    assert "does not exist" in missing.output
