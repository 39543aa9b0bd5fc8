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
