"""`lfe corpus import flores`: the layouts users have, written here with lfe's own sentences (no FLORES text)."""

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
        (folder / name).write_text("".join(f"{PHRASES[short]} {i}\n" for i in range(1, lines + 1)), encoding="utf-8")
    return root


@pytest.mark.parametrize("layout", ["flores200", "floresplus"])
def test_both_text_layouts_become_a_parallel_corpus_with_flores_codes(layout, tmp_path):
    root = _release(tmp_path / "release", layout, split="devtest")
    result = CliRunner().invoke(main, ["corpus", "import", "flores", str(root), "--split", "devtest", "--langs", "en,zho_Hans",
                                       "--out", str(tmp_path / "flores.tsv")])
    assert result.exit_code == 0, result.output
    corpus = read_corpus(tmp_path / "flores.tsv")
    assert list(corpus.langs) == ["eng_Latn", "zho_Hans"] and list(corpus.sids) == ["1", "2", "3"]
    assert list(corpus.texts)[:2] == [f"{PHRASES['en']} 1", f"{PHRASES['en']} 2"]
    every = CliRunner().invoke(main, ["corpus", "import", "flores", str(root / "devtest"), "--split", "devtest",
                                      "--out", str(tmp_path / "all.tsv")])  # the split folder itself, every language
    assert every.exit_code == 0 and sorted(read_corpus(tmp_path / "all.tsv").langs) == sorted(CODES.values())


def test_bad_releases_are_refused_in_one_line(tmp_path):
    root = _release(tmp_path / "release", "flores200")
    (root / "dev" / "fra_Latn.dev").write_text("one line only\n", encoding="utf-8")
    (tmp_path / "parquet" / "dev").mkdir(parents=True)
    (tmp_path / "parquet" / "dev" / "eng_Latn.parquet").write_bytes(b"PAR1")
    for args, message in ((["--langs", "en,fr"], "differ in length"),
                          (["--langs", "de"], "no FLORES file for 'de'"),
                          (["--langs", "xx"], "short codes lfe maps"),
                          (["--split", "devtest"], "no FLORES devtest files")):
        result = CliRunner().invoke(main, ["corpus", "import", "flores", str(root), *args, "--out", str(tmp_path / "x.tsv")])
        assert result.exit_code == 2 and message in result.output and len(result.output.strip().splitlines()) == 1, args
    parquet = CliRunner().invoke(main, ["corpus", "import", "flores", str(tmp_path / "parquet"),
                                        "--out", str(tmp_path / "p.tsv")])
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        assert parquet.exit_code == 2 and "pip install 'lfe[flores]'" in parquet.output
    else:
        assert parquet.exit_code == 2 and "Traceback" not in parquet.output  # a damaged parquet file
    assert not (tmp_path / "x.tsv").exists()


def test_two_commands_from_a_flores_copy_to_a_report(tmp_path):
    """`lfe corpus import flores` then `lfe demo --corpus`: sampled, extracted, analysed, deactivated and steered
    from English, FLORES codes kept all the way (offline: the tiny random model)."""
    root = _release(tmp_path / "release", "floresplus", lines=12)
    runner = CliRunner()
    imported = runner.invoke(main, ["corpus", "import", "flores", str(root), "--out", str(tmp_path / "flores.tsv")])
    assert imported.exit_code == 0, imported.output
    out = tmp_path / "out"
    result = runner.invoke(main, ["demo", "--corpus", str(tmp_path / "flores.tsv"), "--model", "tiny", "--out", str(out),
                                  "--samples", "8", "--holdout", "4", "--eval-verses", "2", "--train-steps", "0",
                                  "--threshold", "1"])  # 3 languages: z reaches at most sqrt(2)
    assert result.exit_code == 0, result.output
    assert "tiny: written, 24 rows" in result.output  # 3 languages x 8 sampled rows
    report = (out / "analysis" / "tiny" / "report.md").read_text(encoding="utf-8")
    assert "## Causal tests" in report and "| eng_Latn | fra_Latn |" in report  # steered from English, FLORES codes
    assert sorted(path.name for path in (out / "sample" / "holdout").iterdir()) == [f"{code}.txt" for code in
                                                                                   sorted(CODES.values())]
    missing = runner.invoke(main, ["demo", "--corpus", str(tmp_path / "nothing.tsv"), "--model", "tiny"])
    assert missing.exit_code == 2 and "does not exist" in missing.output
