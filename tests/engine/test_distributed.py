"""Extraction on a Dask LocalCluster: the store equals a one-process run, also when a worker is
killed."""

import os
import signal
import sys
import threading
import time

import pytest

from lfe.corpus import read_corpus
from lfe.engine import ExtractSettings, extract
from lfe.models.tiny import build_tiny_model
from lfe.store import ActivationStore
from tests.helpers import lfe_here, parallel_rows, write_tsv

distributed = pytest.importorskip(
    "distributed", reason="dask.distributed is a dependency of lfe: pip install -e ."
)


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """A checkpoint series of two small GPT-2 models, a corpus, and its one-process store."""
    root = tmp_path_factory.mktemp("series")
    for step, seed in ((100, 0), (200, 1)):
        build_tiny_model("gpt2", root / "runs" / f"checkpoint-{step}", size="small", seed=seed)
    corpus = write_tsv(root / "c.tsv", parallel_rows(langs=("en", "fr", "zh", "hi"), n_sids=30))
    command = [
        sys.executable,
        "-m",
        "lfe",
        "extract",
        "--checkpoints",
        str(root / "runs" / "checkpoint-*"),
        "--corpus",
        str(corpus),
        "--block-rows",
        "8",
        "--batch-tokens",
        "256",
        "--quiet",
    ]
    lfe_here(command + ["--out", str(root / "one.zarr")])
    return root, corpus, command


def _same_stores(a, b) -> None:
    first, second = ActivationStore.open(a), ActivationStore.open(b)
    assert (
        first.checkpoint_names()
        == second.checkpoint_names()
        == ["checkpoint-100", "checkpoint-200"]
    )
    for name in first.checkpoint_names():
        x, y = first.checkpoint(name), second.checkpoint(name)
        assert y.complete
        assert x.pooled[:].tobytes() == y.pooled[:].tobytes()
        assert x.norms[:].tobytes() == y.norms[:].tobytes()
        assert x.meta.weights_hash == y.meta.weights_hash


def test_two_workers_via_the_cli_equal_one_process(series) -> None:
    root, _, command = series
    # its workers: processes of one thread each on 2 cores (cores // workers), wherever lfe runs
    output = lfe_here(command + ["--out", str(root / "cli.zarr"), "--workers", "2"])
    assert "checkpoint-200: 120 rows" in output
    _same_stores(root / "one.zarr", root / "cli.zarr")


def test_a_worker_killed_mid_run_still_ends_identical(series, tmp_path) -> None:
    root, corpus_path, _ = series
    corpus = read_corpus(corpus_path)
    checkpoints = sorted(str(path) for path in (root / "runs").iterdir())
    out = tmp_path / "killed.zarr"
    settings = ExtractSettings(block_rows=8, batch_tokens=256)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env={"OMP_NUM_THREADS": "1"},
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        errors = []
        runner = threading.Thread(
            target=lambda: _capture(
                errors,
                extract,
                checkpoints,
                corpus,
                out,
                settings=settings,
                progress=False,
                client=client,
            )
        )
        runner.start()
        done_at_kill = _kill_one_worker_after(client, out, blocks=3)
        runner.join(timeout=300)
    assert not errors, errors
    assert 3 <= done_at_kill < 30, done_at_kill  # killed while blocks were still pending
    _same_stores(root / "one.zarr", out)


def _capture(errors, function, *args, **kwargs) -> None:
    try:
        function(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - re-raised by the test's assertion
        errors.append(repr(error))


def _kill_one_worker_after(client, out, blocks: int) -> int:
    """SIGKILL one worker process once ``blocks`` blocks are done (over both checkpoints); the
    blocks done then."""
    deadline = time.monotonic() + 120
    while _done(out) < blocks and time.monotonic() < deadline:
        time.sleep(0.01)
    pid = next(iter(client.run(os.getpid).values()))
    done = _done(out)
    os.kill(pid, signal.SIGKILL)
    return done


def _done(out) -> int:
    folders = [
        out / "checkpoints" / name / "done" / "c" for name in ("checkpoint-100", "checkpoint-200")
    ]
    return sum(len(os.listdir(folder)) for folder in folders if folder.exists())


def test_a_cluster_that_cannot_be_had_is_refused_in_one_line(series, tmp_path) -> None:
    from click.testing import CliRunner

    from lfe.cli import main

    root, corpus, _ = series
    base = [
        "extract",
        "--checkpoints",
        str(root / "runs" / "checkpoint-*"),
        "--corpus",
        str(corpus),
        "--quiet",
        "--out",
        str(tmp_path / "s.zarr"),
    ]
    for option, message in (
        (["--scheduler", "bogus"], "cannot reach the Dask scheduler at 'bogus'"),
        (["--workers", str(10**9)], f"--workers must be 1 to {os.cpu_count()}"),
    ):
        result = CliRunner().invoke(main, base + option)
        assert result.exit_code == 2, result.output
        assert message in result.output, result.output
        assert "Traceback" not in result.output, result.output
    assert not (tmp_path / "s.zarr").exists()
