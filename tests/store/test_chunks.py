"""The threaded block writer writes, file for file, the bytes Zarr's own codec chain writes."""

import numpy as np
import pytest
import zarr

from lfe.store.chunks import chunk_encoder, write_row_block
from lfe.store.schema import CODECS


def _chunk_files(path):
    return {
        str(file.relative_to(path)): file.read_bytes()
        for file in sorted(path.rglob("c/**/*"))
        if file.is_file()
    }


@pytest.mark.parametrize("compression", sorted(CODECS))
@pytest.mark.parametrize("dtype", ["float32", "float16", "uint32"])
def test_block_writer_files_equal_zarrs_own(tmp_path, compression, dtype) -> None:
    rows = (np.random.default_rng(0).standard_normal((11, 14)) * 100).astype(dtype)
    arrays = {}
    # 11 x 14 in chunks of 4 x 5: an edge block of 3 rows and an edge column of 4
    for name in ("zarr", "lfe"):
        arrays[name] = zarr.create_array(
            str(tmp_path / f"{name}.zarr"),
            shape=rows.shape,
            chunks=(4, 5),
            dtype=dtype,
            compressors=CODECS[compression],
            fill_value=0,
        )
        arrays[name] = arrays[name].with_config({"write_empty_chunks": True})
    # lfe's codec chains are written by lfe's threads
    assert chunk_encoder(arrays["lfe"]) is not None
    for block in range(3):
        span = slice(4 * block, 4 * block + 4)
        arrays["zarr"][span] = rows[span]
        write_row_block(arrays["lfe"], block, rows[span])
    written = _chunk_files(tmp_path / "lfe.zarr")
    assert len(written) == 9
    assert written == _chunk_files(tmp_path / "zarr.zarr")
    np.testing.assert_array_equal(zarr.open_array(str(tmp_path / "lfe.zarr"), mode="r")[:], rows)
    assert not list(tmp_path.rglob("*.partial"))


def test_other_codecs_and_stores_go_through_zarr() -> None:
    rows = np.arange(24, dtype=np.float32).reshape(4, 6)
    in_memory = zarr.create_array(
        {}, shape=(8, 6), chunks=(4, 3), dtype="float32", compressors=CODECS["none"]
    )
    gzip = zarr.create_array(
        {}, shape=(8, 6), chunks=(4, 3), dtype="float32", compressors=zarr.codecs.GzipCodec()
    )
    assert chunk_encoder(gzip) is None
    for array in (in_memory, gzip):
        write_row_block(array, 1, rows)
        np.testing.assert_array_equal(array[4:], rows)
