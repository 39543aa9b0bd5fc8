"""Two commands on one store at once: ``lfe analyze`` beside a running ``lfe extract``, two analyses
of one store, and readers of an analysis while it is rewritten."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

import lfe.store.results
from lfe.cli import main
from lfe.errors import StoreError
from lfe.records import AnalysisSettings
from lfe.store import ActivationStore
from lfe.store.lock import holder, lock_path
from lfe.workflows.analyze import analyze_store
from tests.helpers import planted_series

QUICK = ["--null", "0", "--bootstrap", "0", "--no-figures", "--quiet"]


def hold(store, code: str, seconds: float = 60) -> subprocess.Popen:
    """A separate process that takes a lock of ``store`` with ``code`` (a ``with`` statement),
    prints 'locked', holds it for ``seconds`` (or until killed), then prints when it let go."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom lfe.store.lock import reader_lock, writer_lock\n"
            f"store = {str(store)!r}\n{code}:\n    print('locked', flush=True)\n"
            "    time.sleep(float(sys.argv[1]))\nprint('released', time.time(), flush=True)",
            str(seconds),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "locked"
    return process


def released_at(process: subprocess.Popen) -> float:
    line = process.stdout.readline().split()
    process.wait()
    return float(line[1])


@pytest.fixture
def series(tmp_path):
    """A planted store of three checkpoints; the last one half extracted."""
    store = planted_series(tmp_path / "run.zarr")
    names = ActivationStore.open(store).checkpoint_names()
    ActivationStore.open(store, mode="r+").checkpoint(names[-1]).done[0] = False
    return store, names


def test_analyze_beside_a_running_extraction_analyses_the_finished_checkpoints(series) -> None:
    store, names = series
    extraction = hold(store, "with writer_lock(store, 'lfe extract')")
    try:
        result = CliRunner().invoke(main, ["analyze", str(store), *QUICK])
        assert result.exit_code == 0, result.output
        assert f"skipped: checkpoint {names[-1]!r} is incomplete" in result.output
        assert f"being written by another lfe extract (pid {extraction.pid}" in result.output
        opened = ActivationStore.open(store)
        assert [opened.has_analysis(name) for name in names] == [True] * (len(names) - 1) + [False]
        named = CliRunner().invoke(main, ["analyze", str(store), "--checkpoint", names[-1], *QUICK])
        assert named.exit_code == 2
        assert f"pid {extraction.pid}" in named.output
        assert "Traceback" not in named.output
        assert len(named.output.strip().splitlines()) == 1
    finally:
        extraction.kill()
        extraction.wait()
    after = CliRunner().invoke(main, ["analyze", str(store), "--checkpoint", names[-1], *QUICK])
    assert after.exit_code == 2
    assert "rerun the same `lfe extract` command to finish it" in after.output


def test_a_record_being_read_is_not_rewritten_and_one_being_written_is_not_read(series) -> None:
    store, names = series
    analyze_store(store, names[0], settings=AnalysisSettings(n_boot=0, null=0), progress=False)
    opened = ActivationStore.open(store, mode="r+")
    record, arrays = opened.analysis_with_arrays(names[0])
    reader = hold(store, "with reader_lock(store, 'analysis')", 1.5)
    opened.write_analysis(names[0], record, arrays)
    assert time.time() >= released_at(reader)  # the rewrite waited for the reader
    writer = hold(store, "with writer_lock(store, 'lfe analyze', 'analysis')", 1.5)
    assert ActivationStore.open(store).analysis_with_arrays(names[0])[0] == record
    assert time.time() >= released_at(writer)  # the read waited for the writer


def test_a_writer_that_holds_on_is_named_in_one_line(series, monkeypatch) -> None:
    store, names = series
    analyze_store(store, names[0], settings=AnalysisSettings(n_boot=0, null=0), progress=False)
    monkeypatch.setattr(lfe.store.results, "RECORD_WAIT", 0.3)
    writer = hold(store, "with writer_lock(store, 'lfe analyze', 'analysis')")
    try:
        assert holder(store, "analysis").startswith(f"{store} is being written (its analysis)")
        assert holder(store) is None  # the rows are free
        out = store.parent / "regions.csv"
        result = CliRunner().invoke(
            main,
            ["export", str(store), "--checkpoint", names[0], "--regions", "csv", "--out", str(out)],
        )
        assert result.exit_code == 2
        assert f"by another lfe analyze (pid {writer.pid}" in result.output
        assert "Traceback" not in result.output
        with pytest.raises(StoreError, match=f"pid {writer.pid}"):
            analyze_store(store, names[0], settings=AnalysisSettings(n_boot=0), progress=False)
    finally:
        writer.kill()
        writer.wait()
    reader = hold(store, "with reader_lock(store, 'analysis')")
    try:
        with pytest.raises(StoreError, match="being read \\(its analysis\\) by another lfe"):
            ActivationStore.open(store, mode="r+").write_analysis(
                names[0], *ActivationStore.open(store).analysis_with_arrays(names[0])
            )
    finally:
        reader.kill()
        reader.wait()
    assert lock_path(store, "analysis").name == ".run.zarr.analysis.lock"


def test_two_analyses_of_one_store_at_once_leave_each_checkpoint_one_whole_analysis(
    series, tmp_path
) -> None:
    store, names = series
    finished = names[:-1]
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "lfe", "analyze", str(store), "--threshold", threshold]
            + ["--bootstrap", "0", "--null", "3", "--quiet", "--out", str(tmp_path / "report")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for threshold in ("0.5", "2.0")
    ]
    for run in runs:
        output = run.communicate()[0]
        assert run.returncode == 0, output
    opened = ActivationStore.open(store)
    for name in finished:
        record, arrays = opened.analysis_with_arrays(name)
        threshold = record.params.threshold
        alone = analyze_store(
            store,
            name,
            settings=AnalysisSettings(threshold=threshold, n_boot=0, null=3),
            out=tmp_path / f"alone-{threshold}",
            figures=False,
            progress=False,
        )[name]
        again = ActivationStore.open(store).analysis_with_arrays(name)[1]
        np.testing.assert_array_equal(arrays.regions, again.regions)
        assert record.whole == alone.whole
        written = json.loads((tmp_path / "report" / name / "metrics.json").read_text())
        assert written["params"]["threshold"] == threshold  # the folder is the store's analysis
