"""Faults that must lose nothing: damaged chunks, a full disk, a read-only store, a second writer,
Ctrl-C.

Each fault is followed by `lfe check` and a resume; the store must end equal, bit for bit, to an
uninterrupted run, and no block may ever be marked done that is not fully written.
"""

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import zarr
from click.testing import CliRunner

from lfe.cli import main
from lfe.corpus import read_corpus
from lfe.engine import ExtractSettings, extract
from lfe.errors import StoreError
from lfe.store import ActivationStore, Checkpoint, chunks
from lfe.store.lock import writer_lock
from lfe.workflows.check import check_store
from tests.helpers import lfe_here, parallel_rows, write_tsv

SETTINGS = ExtractSettings(block_rows=6, batch_tokens=256)


@pytest.fixture
def run(tiny_models, tmp_path):
    """(extract(out) for a 36-row corpus in 6 blocks, the rows of an uninterrupted run)."""
    corpus = read_corpus(write_tsv(tmp_path / "c.tsv", parallel_rows()))
    model = str(tiny_models("llama"))

    def go(out, **kwargs):
        return extract(model, corpus, out, settings=SETTINGS, name="ckpt", progress=False, **kwargs)

    go(tmp_path / "whole.zarr")
    return go, ActivationStore.open(tmp_path / "whole.zarr").checkpoint("ckpt").pooled[:]


def _rows(out):
    checkpoint = ActivationStore.open(out).checkpoint("ckpt")
    assert checkpoint.complete
    return checkpoint.pooled[:]


def _written_blocks(monkeypatch):
    written = []
    original = Checkpoint.write_block

    def spy(self, block, *args, **kwargs):
        written.append(block)
        return original(self, block, *args, **kwargs)

    monkeypatch.setattr(Checkpoint, "write_block", spy)
    return written


def _chunk(out, block, layer=0, array="pooled"):
    folder = out / "checkpoints" / "ckpt" / array / "c" / str(block)
    return folder / str(layer) if array == "pooled" else folder


def test_a_missing_chunk_is_found_and_exactly_its_block_redone(
    run, tmp_path, monkeypatch, caplog
) -> None:
    go, whole = run
    out = tmp_path / "run.zarr"
    go(out)
    _chunk(out, 2, layer=1).unlink()
    report = check_store(out)
    assert not report.ok
    assert [f.where for f in report.findings if f.level == "error"] == [
        "checkpoint ckpt, block 2 (rows 12-17)"
    ]
    assert any("lfe check --repair" in f.fix for f in report.findings)
    info = CliRunner().invoke(main, ["info", str(out)])  # not "complete" while a file is gone
    assert "6/6 blocks (DAMAGED: blocks 2 lost chunk files; rerun lfe extract" in info.output, (
        info.output
    )
    written = _written_blocks(monkeypatch)
    go(out)  # extract finds missing chunks by itself, and says so
    assert "blocks 2 were marked done but chunk files are missing" in caplog.text
    assert written == [2]
    assert _rows(out).tobytes() == whole.tobytes()
    assert check_store(out, deep=True).ok


@pytest.mark.parametrize(
    "damage", ["flip a byte", "truncate", "swap two blocks' chunks", "overwrite the norms"]
)
def test_corruption_is_found_by_a_deep_check_and_repaired(
    run, tmp_path, monkeypatch, damage
) -> None:
    go, whole = run
    out = tmp_path / "run.zarr"
    go(out)
    chunk = _chunk(out, 4)
    data = bytearray(chunk.read_bytes())
    if damage == "flip a byte":
        data[len(data) // 2] ^= 0x40
        chunk.write_bytes(bytes(data))
    elif damage == "truncate":
        chunk.write_bytes(bytes(data[: len(data) // 3]))
    elif damage == "swap two blocks' chunks":  # each chunk still passes its checksum
        other = _chunk(out, 1).read_bytes()
        _chunk(out, 1).write_bytes(bytes(data))
        chunk.write_bytes(other)
    else:
        norms = zarr.open_array(str(out / "checkpoints" / "ckpt" / "norms"), mode="r+")
        norms[24:30] = 1.0
    assert check_store(out).ok  # the shallow check sees every file in place
    # a repair reads every chunk: it does what the deep check's advice says
    report = check_store(out, repair=True)
    assert not report.ok
    damaged = [1, 4] if damage == "swap two blocks' chunks" else [4]
    assert report.repaired == {"ckpt": damaged}
    written = _written_blocks(monkeypatch)
    go(out)
    assert written == damaged  # exactly the affected blocks are recomputed
    assert _rows(out).tobytes() == whole.tobytes()
    assert check_store(out, deep=True).ok


class _FailingWrites:
    """Make the store's chunk writes (through Zarr, or lfe's threaded block writer) fail with
    ``code`` after ``allowed`` successful ones."""

    def __init__(self, monkeypatch, code, allowed) -> None:
        self.count, self.allowed, self.code = 0, allowed, code
        self.lock = threading.Lock()  # the block writer's threads count concurrently
        original_set, original_write = zarr.storage.LocalStore.set, chunks.write_file

        async def failing_set(store, key, value):
            if "/c/" in key:
                self.count_one()
            return await original_set(store, key, value)

        def failing_write(path, pieces):
            self.count_one()
            return original_write(path, pieces)

        monkeypatch.setattr(zarr.storage.LocalStore, "set", failing_set)
        monkeypatch.setattr(chunks, "write_file", failing_write)

    def count_one(self) -> None:
        with self.lock:
            self.count += 1
            if self.count > self.allowed:
                raise OSError(self.code, os.strerror(self.code))


# chunk writes allowed before the disk is full: creation, mid-block, between blocks;
# RELIABILITY.md's longer campaign (LFE_ENOSPC_ALL=1) tries every point of the run's 28 chunk writes
ENOSPC_POINTS = range(28) if os.environ.get("LFE_ENOSPC_ALL") else [0, 3, 7, 12, 17, 27]


@pytest.mark.parametrize("allowed", ENOSPC_POINTS)
def test_disk_full_gives_a_clear_error_and_resume_completes(
    run, tmp_path, monkeypatch, allowed
) -> None:
    go, whole = run
    out = tmp_path / "run.zarr"
    with monkeypatch.context() as patch:
        _FailingWrites(patch, errno.ENOSPC, allowed)
        with pytest.raises(
            StoreError, match="no space left on the device; free space, then rerun the same command"
        ):
            go(out)
    if out.exists():  # (a fault while creating the store leaves none: creation is atomic)
        store = ActivationStore.open(out)
        assert "ckpt" not in store.checkpoint_names() or not store.checkpoint("ckpt").complete
        report = check_store(out, deep=True)  # every block marked done is whole
        assert report.ok, [str(f) for f in report.findings]
    go(out)  # space freed: the same command finishes the run
    assert _rows(out).tobytes() == whole.tobytes()


def test_a_read_only_store_is_a_clear_error(run, tmp_path, monkeypatch) -> None:
    go, _ = run
    with monkeypatch.context() as patch:
        _FailingWrites(patch, errno.EROFS, 0)
        with pytest.raises(
            StoreError, match="read-only file system; pass an --out on a writable one"
        ):
            go(tmp_path / "ro.zarr")
    with monkeypatch.context() as patch:
        patch.setattr(os, "access", lambda path, mode: False)
        with pytest.raises(StoreError, match="is read-only for this user"):
            go(tmp_path / "whole.zarr")


def test_missing_foreign_and_newer_stores_are_clear_errors(run, tmp_path) -> None:
    go, _ = run
    runner = CliRunner()
    missing = runner.invoke(main, ["check", str(tmp_path / "nothing.zarr")])
    assert missing.exit_code == 2
    assert "does not exist; run `lfe extract`" in missing.output
    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    foreign = runner.invoke(main, ["check", str(tmp_path / "plain.zarr")])
    assert foreign.exit_code == 2
    assert "not an lfe store" in foreign.output
    go(tmp_path / "run.zarr")
    group = zarr.open_group(str(tmp_path / "run.zarr"), mode="r+")
    group.attrs["lfe"] = {**group.attrs["lfe"], "schema_version": 99}
    newer = runner.invoke(main, ["check", str(tmp_path / "run.zarr")])
    assert newer.exit_code == 2
    assert "written by a newer lfe" in newer.output


def test_check_cli_reports_and_exits_nonzero_on_damage(run, tmp_path) -> None:
    go, _ = run
    out = tmp_path / "run.zarr"
    go(out)
    healthy = CliRunner().invoke(main, ["check", str(out), "--deep", "--quiet"])
    assert healthy.exit_code == 0
    assert "OK: 6 blocks checked, 18 chunks and 36 rows read" in healthy.output
    _chunk(out, 0, array="norms").unlink()
    damaged = CliRunner().invoke(main, ["check", str(out), "--json"])
    assert damaged.exit_code == 1
    report = json.loads(damaged.output)
    assert not report["ok"]
    assert any("block 0" in f["where"] for f in report["findings"])
    group = zarr.open_group(str(out), mode="r+")
    group["corpus/text"][0] = "changed"
    changed = CliRunner().invoke(main, ["check", str(out)])
    assert changed.exit_code == 1
    assert "no longer hash to the recorded fingerprint" in changed.output


def test_a_second_writer_is_refused_and_a_crashed_one_leaves_no_lock(run, tmp_path) -> None:
    go, _ = run
    out = tmp_path / "run.zarr"
    with writer_lock(out):
        with pytest.raises(
            StoreError, match=rf"being written by another lfe extract \(pid {os.getpid()}"
        ):
            go(out)
    go(out)
    with writer_lock(out):  # a repair never clears flags under a running extraction
        with pytest.raises(StoreError, match="being written by another lfe extract"):
            check_store(out, repair=True)
    assert check_store(out).ok  # a read-only check needs no lock
    (tmp_path / "link.zarr").symlink_to(out)  # the same store by another path: the same lock
    with writer_lock(out):
        with pytest.raises(StoreError, match="being written by another lfe extract"):
            go(tmp_path / "link.zarr")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from lfe.store.lock import writer_lock\n"
                f"with writer_lock({str(out)!r}):\n    print('locked', flush=True); time.sleep(60)"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(StoreError, match=f"pid {holder.pid}"):
        go(out)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    go(out)  # the kernel released the dead process's lock
    assert ActivationStore.open(out).checkpoint("ckpt").complete


INTERRUPTS = int(os.environ.get("LFE_INTERRUPTS", 1))  # RELIABILITY.md's longer campaign sets more


def test_ctrl_c_flushes_finished_blocks_and_exits_cleanly(tiny_models, tmp_path) -> None:
    model = tiny_models("gpt2", size="small")
    # 2-row blocks: enough for every interrupt to land a few blocks further on
    rows = parallel_rows(langs=("en", "fr", "zh", "hi"), n_sids=max(30, 15 * INTERRUPTS))
    corpus = write_tsv(tmp_path / "c.tsv", rows)
    command = [
        sys.executable,
        "-m",
        "lfe",
        "extract",
        str(model),
        "--corpus",
        str(corpus),
        "--block-rows",
        "2",
        "--batch-tokens",
        "64",
        "--quiet",
        "--name",
        "ckpt",
        "--out",
        str(tmp_path / "run.zarr"),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = tmp_path / "run.zarr" / "checkpoints" / "ckpt" / "done" / "c"
    for _ in range(INTERRUPTS):  # each run interrupted a few blocks further on
        before = len(os.listdir(done)) if done.exists() else 0
        # a background shell (nohup, CI runners) starts children with SIGINT ignored: give it back
        # its default
        process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        deadline = time.monotonic() + 120
        while (
            process.poll() is None
            and (not done.exists() or len(os.listdir(done)) < before + 3)
            and time.monotonic() < deadline
        ):
            time.sleep(0.01)
        assert process.poll() is None, "the run ended before it could be interrupted"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 130, stderr
        assert "interrupted" in stderr
        assert "Traceback" not in stderr
        report = check_store(tmp_path / "run.zarr", deep=True)  # the flushed blocks are whole
        assert report.ok
        assert report.blocks_checked >= before + 3
    lfe_here(command)
    lfe_here(command[:-1] + [str(tmp_path / "whole.zarr")])
    assert _rows(tmp_path / "run.zarr").tobytes() == _rows(tmp_path / "whole.zarr").tobytes()


def test_analyzing_a_damaged_chunk_says_how_to_repair_it(run, tmp_path) -> None:
    go, whole = run
    out = tmp_path / "run.zarr"
    go(out)
    chunk = _chunk(out, 3, layer=1)
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x40
    chunk.write_bytes(bytes(data))
    result = CliRunner().invoke(
        main, ["analyze", str(out), "--top-percent", "5", "--quiet", "--no-figures"]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output, result.output
    assert "is damaged: cannot read layer 1's activations" in result.output
    assert "lfe check --repair" in result.output
    # as the message says
    repaired = CliRunner().invoke(main, ["check", str(out), "--repair", "--quiet"])
    assert "repaired ckpt: blocks 3" in repaired.output
    go(out)
    assert _rows(out).tobytes() == whole.tobytes()
    again = CliRunner().invoke(
        main, ["analyze", str(out), "--top-percent", "5", "--quiet", "--no-figures"]
    )
    assert again.exit_code == 0, again.output


def test_a_broken_metadata_file_and_a_flipped_corpus_chunk_get_one_line_and_the_way_out(
    run, tmp_path
) -> None:
    import shutil

    go, whole = run
    out = tmp_path / "run.zarr"
    go(out)
    (out / "checkpoints" / "ckpt" / "zarr.json").write_text("{broken")
    for command in (
        ["check", str(out)],
        ["info", str(out)],
        ["analyze", str(out), "--top-percent", "5", "--quiet"],
    ):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2, (command, result.output)
        assert "Traceback" not in result.output, (command, result.output)
        assert (
            f"the metadata of ckpt is damaged; remove {out / 'checkpoints' / 'ckpt'}"
            in result.output
        )
    shutil.rmtree(out / "checkpoints" / "ckpt")  # as the message says
    go(out)
    assert _rows(out).tobytes() == whole.tobytes()
    text = next((out / "corpus" / "text" / "c").rglob("*"))
    data = bytearray(text.read_bytes())
    data[len(data) // 2] ^= 0x80
    text.write_bytes(bytes(data))
    result = CliRunner().invoke(main, ["check", str(out), "--quiet"])
    assert result.exit_code == 1
    assert "corpus: the corpus arrays of" in result.output
    assert "are damaged" in result.output
    assert "Traceback" not in result.output
