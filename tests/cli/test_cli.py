"""The CLI: exit codes, output and exact error text; library behaviour is tested elsewhere."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from lfe.cli import main
from tests.helpers import assert_same_files, parallel_rows, write_tsv


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_extract_then_info(tiny_models, corpus_file, tmp_path) -> None:
    out = tmp_path / "run.zarr"
    result = _run(
        "extract",
        tiny_models("bloom"),
        "--corpus",
        corpus_file,
        "--out",
        out,
        "--langs",
        "en,zh",
        "--samples",
        "5",
        "--seed",
        "7",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert "bloom-tiny-0: 10 rows" in result.output
    again = _run(
        "extract",
        tiny_models("bloom"),
        "--corpus",
        corpus_file,
        "--out",
        out,
        "--langs",
        "en,zh",
        "--samples",
        "5",
        "--seed",
        "7",
        "--quiet",
    )
    assert "already complete, nothing to do" in again.output
    info = _run("info", out)
    assert info.exit_code == 0
    assert "2 languages (en, zh) x 5 sids = 10 rows" in info.output
    assert "checkpoint bloom-tiny-0: 1/1 blocks (complete)" in info.output
    assert "2 layers x 128 neurons" in info.output
    assert "seed=7" in info.output
    assert "analysis: none" in info.output
    assert "ablation: none" in info.output
    described = json.loads(_run("info", out, "--json").output)
    # the CPU default
    assert described["checkpoints"]["bloom-tiny-0"]["settings"]["batch_tokens"] == 512


def test_errors_are_one_clear_line_without_traceback(tiny_models, tmp_path) -> None:
    rows = [r for r in parallel_rows() if not (r[0] == "zh" and r[1] == "4")]
    corpus = write_tsv(tmp_path / "c.tsv", rows)
    result = _run(
        "extract", tiny_models("gpt2"), "--corpus", corpus, "--out", tmp_path / "run.zarr"
    )
    assert result.exit_code == 2
    assert f"Error: {corpus} is incomplete" in result.output
    assert "zh lacks 1 sid(s): 4" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "run.zarr").exists()  # checked before anything was written

    good = write_tsv(tmp_path / "good.tsv", parallel_rows())
    result = _run("extract", tmp_path, "--corpus", good, "--out", tmp_path / "run.zarr")
    assert result.exit_code == 2
    assert "is a directory without config.json" in result.output
    result = _run("info", tmp_path / "none.zarr")
    assert result.exit_code == 2
    assert "does not exist; run `lfe extract`" in result.output
    result = _run(
        "extract",
        tiny_models("gpt2"),
        "--corpus",
        corpus,
        "--out",
        tmp_path / "r.zarr",
        "--dtype",
        "int4",
    )
    assert result.exit_code == 2
    assert "'int4' is not one of" in result.output


def test_help_does_not_import_torch() -> None:
    code = (
        "import sys; from lfe.cli import main; main(['--help'], standalone_mode=False);"
        " print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "extract" in result.stdout
    assert result.stdout.strip().endswith("False")


def test_models_list_and_corpus_sample(tmp_path) -> None:
    listed = _run("models", "list")
    assert listed.exit_code == 0
    assert "gemma3-270m" in listed.output
    assert "smollm2-135m" in listed.output
    corpus = write_tsv(tmp_path / "c.tsv", parallel_rows(n_sids=12))
    result = _run(
        "corpus",
        "sample",
        corpus,
        "--samples",
        "5",
        "--seed",
        "0",
        "--holdout",
        "4",
        "--out-dir",
        tmp_path / "s",
    )
    assert result.exit_code == 0, result.output
    assert "probe: " in result.output
    assert (tmp_path / "s" / "holdout" / "zh.txt").exists()
    too_many = _run("corpus", "sample", corpus, "--samples", "10", "--seed", "0", "--holdout", "4")
    assert too_many.exit_code == 2
    assert "is more than the corpus's 12 sids" in too_many.output
    unknown = _run("models", "fetch", "gpt-5")
    assert unknown.exit_code == 2
    assert "unknown model 'gpt-5'; lfe can fetch gemma3-270m, smollm2-135m" in unknown.output


def test_offline_demo_runs_end_to_end(tmp_path) -> None:
    # a shorter training run than tiny's default 40 steps: 6 checkpoints instead of 8
    result = _run("demo", "--model", "tiny", "--out", tmp_path / "demo", "--train-steps", "6")
    assert result.exit_code == 0, result.output
    assert "tiny: written, 72 rows" in result.output
    assert "LRDS" in result.output
    report = (tmp_path / "demo" / "analysis" / "tiny" / "report.md").read_text()
    assert "| language | key neurons |" in report
    assert "![similarity map](similarity_map.png)" in report
    assert "## Causal tests" in report
    assert "| en | fr |" in report
    assert (tmp_path / "demo" / "steer" / "tiny" / "steer.png").exists()
    # every measure of the training run next to its chance level, the figures with the null band
    evolution_md = (tmp_path / "demo" / "evolution" / "evolution.md").read_text()
    assert (
        "| LRDS | chance | above | SADS | chance | above | SKLR % | chance | above |"
        in evolution_md
    )
    rows = json.loads((tmp_path / "demo" / "evolution" / "evolution.json").read_text())["rows"]
    for row in rows:
        assert row["lrds_null"]["permutations"] > 0
        assert row["sklr_above_chance"] == pytest.approx(
            row["sklr_percent"] - row["sklr_null"]["mean"]
        )
    _reports_rebuild_equal(tmp_path / "demo" / "run.zarr", tmp_path / "demo", tmp_path / "rebuilt")
    evolution = {kind: tmp_path / "demo" / f"evolution-{kind}" for kind in ("analysis",)}
    _reports_rebuild_equal(
        tmp_path / "demo" / "evolution.zarr", evolution, tmp_path / "rebuilt-evolution"
    )
    # the second run reuses the finished store; its causal tests and training are not what it
    # checks
    again = _run(
        "demo", "--model", "tiny", "--out", tmp_path / "demo", "--train-steps", "0",
        "--eval-verses", "0",
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "tiny: already complete" in again.output


def _reports_rebuild_equal(store, written, into) -> None:
    """`lfe report STORE --out INTO` writes every file the commands wrote, byte for byte, from the
    store alone."""
    rebuilt = _run("report", store, "--out", into)
    assert rebuilt.exit_code == 0, rebuilt.output
    folders = (
        written
        if isinstance(written, dict)
        else {kind: written / kind for kind in ("analysis", "ablation", "steer")}
    )
    for kind, folder in folders.items():
        assert_same_files(folder, into / kind)


def _readme_invocations():
    """(command words, options) of every `lfe ...` line in the README's shell blocks (continuations
    joined)."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#")[0].strip()
            if line.startswith("lfe "):
                words = line.split()
                command = [w for w in words[1:3] if re.fullmatch(r"[a-z]+", w)]
                yield command, sorted(set(re.findall(r"(--[a-z][a-z-]*)", line)))


def test_every_command_and_option_in_the_readme_exists() -> None:
    import click

    checked = 0
    for words, options in _readme_invocations():
        command: click.Command = main
        for word in words:
            if not isinstance(command, click.Group):
                break
            command = command.get_command(click.Context(command), word)
            assert command is not None, (
                f"README names `lfe {' '.join(words)}`, which does not exist"
            )
        known = {opt for param in command.params for opt in param.opts + param.secondary_opts}
        missing = [option for option in options if option not in known]
        assert not missing, f"README: `lfe {' '.join(words)}` has no {', '.join(missing)}"
        checked += 1
    assert checked >= 10  # the README's command lines were found


def test_info_on_a_store_whose_checkpoints_recorded_no_tokenizer(tmp_path) -> None:
    from tests.helpers import planted_series

    # CheckpointMeta without tokenizer_hash, as older lfe wrote
    store = planted_series(tmp_path / "planted.zarr")
    result = CliRunner().invoke(main, ["info", str(store)])
    assert result.exit_code == 0, result.output
    assert "tokenizer sha256 not recorded" in result.output


def test_every_comma_option_reads_one_way() -> None:
    import click

    from lfe.cli.options import CommaList, joined

    @click.command()
    @click.option("--langs", type=CommaList(), default="en")
    @click.option("--revision", type=CommaList(), multiple=True)
    def show(langs, revision) -> None:
        click.echo(f"{langs} {joined(revision)}")

    runner = CliRunner()
    assert (
        runner.invoke(show, ["--langs", " en , fr,,zh "]).output.strip() == "('en', 'fr', 'zh') ()"
    )
    assert (
        runner.invoke(show, ["--revision", "a,b", "--revision", "c"]).output.strip()
        == "('en',) ('a', 'b', 'c')"
    )
    refused = runner.invoke(show, ["--langs", " , "])
    assert refused.exit_code == 2
    assert "names nothing; give one or more values separated by commas" in refused.output
