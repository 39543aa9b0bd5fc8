"""The CLI: exit codes, output and exact error text; library behaviour is tested elsewhere."""

import json
import subprocess
import sys

from click.testing import CliRunner

from lfe.cli import main
from tests.conftest import parallel_rows, write_tsv


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_extract_then_info(tiny_models, corpus_file, tmp_path):
    out = tmp_path / "run.zarr"
    result = _run("extract", tiny_models("bloom"), "--corpus", corpus_file, "--out", out, "--langs", "en,zh",
                  "--samples", "5", "--seed", "7", "--quiet")
    assert result.exit_code == 0, result.output
    assert "bloom-tiny-0: 10 rows" in result.output
    again = _run("extract", tiny_models("bloom"), "--corpus", corpus_file, "--out", out, "--langs", "en,zh",
                 "--samples", "5", "--seed", "7", "--quiet")
    assert "already complete, nothing to do" in again.output
    info = _run("info", out)
    assert info.exit_code == 0
    assert "2 languages (en, zh) x 5 sids = 10 rows" in info.output
    assert "checkpoint bloom-tiny-0: 1/1 blocks (complete)" in info.output
    assert "2 layers x 128 neurons" in info.output and "seed=7" in info.output
    described = json.loads(_run("info", out, "--json").output)
    assert described["checkpoints"]["bloom-tiny-0"]["settings"]["batch_tokens"] == 512  # the CPU default


def test_errors_are_one_clear_line_without_traceback(tiny_models, tmp_path):
    rows = [r for r in parallel_rows() if not (r[0] == "zh" and r[1] == "4")]
    corpus = write_tsv(tmp_path / "c.tsv", rows)
    result = _run("extract", tiny_models("gpt2"), "--corpus", corpus, "--out", tmp_path / "run.zarr")
    assert result.exit_code == 1
    assert "Error: the corpus is incomplete" in result.output and "zh lacks 1 sid(s): 4" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "run.zarr").exists()  # checked before anything was written

    good = write_tsv(tmp_path / "good.tsv", parallel_rows())
    result = _run("extract", tmp_path, "--corpus", good, "--out", tmp_path / "run.zarr")
    assert result.exit_code == 1 and "is a directory without config.json" in result.output
    result = _run("info", tmp_path / "none.zarr")
    assert result.exit_code == 1 and "does not exist; run `lfe extract`" in result.output
    result = _run("extract", tiny_models("gpt2"), "--corpus", corpus, "--out", tmp_path / "r.zarr", "--dtype", "int4")
    assert result.exit_code == 2 and "'int4' is not one of" in result.output


def test_help_does_not_import_torch():
    code = "import sys; from lfe.cli import main; main(['--help'], standalone_mode=False); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "extract" in result.stdout and result.stdout.strip().endswith("False")
