import threading

import numpy as np
import pytest
import zarr

from lfe.errors import StoreError
from lfe.records import CheckpointMeta, CheckpointSummary, CorpusDescription, ModelSource
from lfe.store import ActivationStore, BackgroundWriter
from tests.helpers import store_of_rows


def _store(path, rows=10):
    langs = ["en"] * (rows // 2) + ["fr"] * (rows - rows // 2)
    sids = [str(i % (rows // 2)) for i in range(rows)]
    texts = [f"t{i}" for i in range(rows)]
    return store_of_rows(path, langs, sids, texts)


def _checkpoint(store, name="c", block_rows=4):
    meta = CheckpointMeta(
        n_layers=2, n_neurons=3, block_rows=block_rows, source=ModelSource("local", "x")
    )
    # every row pooled a token
    return store.create_checkpoint(name, meta, np.arange(1, store.n_rows + 1, dtype=np.int32))


def test_create_open_and_labels(tmp_path) -> None:
    store = _store(tmp_path / "run.zarr")
    langs, sids = ActivationStore.open(tmp_path / "run.zarr").labels()
    assert langs.tolist()[:6] == ["en"] * 5 + ["fr"]
    assert sids.tolist()[5] == "0"
    assert not list(tmp_path.glob(".*partial"))  # the staging directory was renamed away
    with pytest.raises(StoreError, match="already exists"):
        _store(tmp_path / "run.zarr")
    with pytest.raises(StoreError, match="fingerprint is not the rows'"):
        ActivationStore.create(
            tmp_path / "other.zarr", CorpusDescription(fingerprint="made up"), ["en"], ["0"], ["t"]
        )
    assert not (tmp_path / "other.zarr").exists()
    assert store.checkpoint_names() == []


def test_blocks_are_chunk_aligned_and_marked_done_after_writing(tmp_path) -> None:
    store = _store(tmp_path / "run.zarr")
    checkpoint = _checkpoint(store)
    assert checkpoint.pooled.chunks == (4, 3)
    assert checkpoint.n_blocks == 3
    assert checkpoint.pending_blocks() == [0, 1, 2]
    last = np.ones((2, 6), dtype=np.float32)
    checkpoint.write_block(2, last)
    assert checkpoint.pending_blocks() == [0, 1]
    assert not checkpoint.complete
    np.testing.assert_array_equal(checkpoint.pooled[8:], last)
    with pytest.raises(ValueError, match="needs shape"):
        checkpoint.write_block(0, last)
    assert checkpoint.pending_blocks() == [0, 1]
    described = store.describe().checkpoints["c"]
    assert described.blocks_done == 1
    assert described.blocks == 3
    assert described.complete is False
    printed = (
        described.to_dict()
    )  # as `lfe info --json` prints it, the metadata beside the progress
    assert CheckpointSummary.from_dict(printed) == described
    assert printed["source"] == {
        "kind": "local",
        "spec": "x",
        "revision": None,
        "random_init": None,
    }


def test_half_created_checkpoint_is_invisible_and_recreated(tmp_path) -> None:
    store = _store(tmp_path / "run.zarr")
    # a crash before the attributes were written
    zarr.open_group(str(tmp_path / "run.zarr"), mode="r+")["checkpoints"].create_group("c")
    assert store.checkpoint_names() == []
    assert _checkpoint(store).pending_blocks() == [0, 1, 2]


def test_not_a_store_missing_store_and_newer_schema(tmp_path) -> None:
    with pytest.raises(StoreError, match="does not exist; run `lfe extract`"):
        ActivationStore.open(tmp_path / "none.zarr")
    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w")
    with pytest.raises(StoreError, match="not an lfe store"):
        ActivationStore.open(tmp_path / "plain.zarr")
    with pytest.raises(StoreError, match="not an lfe store"):
        ActivationStore.remove(tmp_path / "plain.zarr")  # --overwrite never deletes other data
    assert (tmp_path / "plain.zarr").exists()
    store = _store(tmp_path / "run.zarr")
    zarr.open_group(str(tmp_path / "run.zarr"), mode="r+").attrs["lfe"] = {
        **store.info,
        "schema_version": 99,
    }
    with pytest.raises(StoreError, match="newer lfe .*schema 99"):
        ActivationStore.open(tmp_path / "run.zarr")


def test_writer_writes_in_order_and_bounds_its_queue() -> None:
    written, gate = [], threading.Event()

    def write(i) -> None:
        gate.wait()
        written.append(i)

    writer = BackgroundWriter(write, max_pending=2)
    for i in range(3):  # one in the writer's hands, two queued
        writer.submit(i)
    assert writer._queue.full()
    gate.set()
    writer.close()
    assert written == [0, 1, 2]


def test_writer_error_reaches_the_caller_and_later_writes_stop() -> None:
    written = []

    def write(i) -> None:
        if i == 1:
            raise OSError(28, "No space left on device")
        written.append(i)

    with pytest.raises(OSError, match="No space left"):
        with BackgroundWriter(write) as writer:
            for i in range(4):
                writer.submit(i)
    assert written == [0]


def test_a_leftover_partial_file_does_not_hide_a_lost_chunk(tmp_path) -> None:
    checkpoint = _checkpoint(_store(tmp_path / "run.zarr"))
    checkpoint.write_block(0, np.ones((4, 6), dtype=np.float32))
    folder = checkpoint.chunk_folder("pooled") / "0"
    assert sorted(entry.name for entry in folder.iterdir()) == ["0", "1"]
    assert checkpoint.blocks_missing_chunks() == []
    # a killed write's temporary file, its chunk never renamed in
    (folder / "1").rename(folder / "1.3f2a.partial")
    assert checkpoint.blocks_missing_chunks() == [0]
