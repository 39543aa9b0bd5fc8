"""`lfe report`: the reports written again from the store alone equal what the commands wrote."""

from click.testing import CliRunner

from lfe.cli import main
from lfe.records import AP, AnalysisSettings, PeerSettings
from lfe.workflows.analyze import analyze_store
from tests.helpers import assert_same_files, planted_series


def _report(*args):
    return CliRunner().invoke(main, ["report", *map(str, args)])


def test_every_checkpoint_and_the_methods_compared_are_rebuilt_byte_for_byte(tmp_path) -> None:
    store = planted_series(tmp_path / "run.zarr")
    settings = AnalysisSettings(threshold=1.5, n_boot=20, peers=PeerSettings(methods=(AP,)))
    records = analyze_store(store, settings=settings, out=tmp_path / "analysis", progress=False)
    # AP beside the paper's z-scores: methods.png
    assert all(record.methods for record in records.values())
    result = _report(store, "--out", tmp_path / "again")
    assert result.exit_code == 0, result.output
    assert "global_step0: analysis -> " in result.output
    assert_same_files(tmp_path / "analysis", tmp_path / "again" / "analysis")
    assert (tmp_path / "again" / "analysis" / "global_step0" / "methods.png").exists()
    # nothing was deactivated: nothing written
    assert not (tmp_path / "again" / "ablation").exists()

    one = _report(
        store, "--checkpoint", "global_step100", "--out", tmp_path / "one", "--no-figures"
    )
    assert one.exit_code == 0, one.output
    assert [path.name for path in (tmp_path / "one" / "analysis").iterdir()] == ["global_step100"]
    assert not list((tmp_path / "one").rglob("*.png"))
    assert (
        "](similarity_map.png)"
        not in (tmp_path / "one" / "analysis" / "global_step100" / "report.md").read_text()
    )


def test_a_store_without_analysis_or_checkpoint_is_one_line(tmp_path) -> None:
    store = planted_series(tmp_path / "run.zarr")
    bare = _report(store)
    assert bare.exit_code == 2
    names = "global_step0, global_step100, global_step1000, global_step10000"
    assert f"keeps no analysis of {names}; run `lfe analyze {store}`" in bare.output
    unknown = _report(store, "--checkpoint", "step7")
    assert unknown.exit_code == 2
    assert "has no checkpoint 'step7'; it has global_step0" in unknown.output
    assert "Traceback" not in bare.output + unknown.output
