"""A row block's chunks encoded and written by a pool of threads, byte for byte what Zarr would
write.

Zarr 3.1's codec pipeline computes crc32c in its one event-loop thread, so writing the many chunks
of a block through ``array[rows] = block`` is serial CPU work (benchmarks/RESULTS.md: store / raw
0.2-0.5). Here each chunk is made contiguous, checksummed (or zstd-compressed) and written to a
temporary file renamed into place, as Zarr's ``LocalStore`` does; numpy's copy, zstd and the file
writes release the GIL, so the threads overlap them. Arrays whose codecs are not lfe's two chains,
or that are not on the local file system, go through Zarr unchanged.
"""

from __future__ import annotations

import os
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from functools import cache
from pathlib import Path
from typing import Callable

import google_crc32c
import numpy as np
import zarr
from numcodecs import Zstd
from zarr.codecs import BytesCodec, Crc32cCodec, ZstdCodec
from zarr.storage import LocalStore

# file writes wait on the disk: more threads than cores
WRITER_THREADS = min(8, 2 * (os.cpu_count() or 1))

Encoder = Callable[[np.ndarray], list]


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(WRITER_THREADS, thread_name_prefix="lfe-chunks")


def chunk_encoder(array: zarr.Array) -> Encoder | None:
    """The function giving the pieces of one encoded chunk of ``array`` (a contiguous array in, the
    file's byte pieces out), or None when its codec chain is not one lfe writes itself."""
    codecs = array.metadata.codecs
    if sys.byteorder != "little" or len(codecs) != 2 or not isinstance(codecs[0], BytesCodec):
        return None
    if codecs[0].endian is not None and codecs[0].endian.value != "little":
        return None
    if isinstance(codecs[1], Crc32cCodec):
        # data, then its crc32c
        return lambda chunk: [chunk, np.uint32(google_crc32c.value(chunk)).tobytes()]
    if isinstance(codecs[1], ZstdCodec):
        zstd = Zstd(level=codecs[1].level, checksum=codecs[1].checksum)
        return lambda chunk: [zstd.encode(chunk)]
    return None


def write_row_block(array: zarr.Array, block: int, rows: np.ndarray) -> None:
    """Write ``rows`` as row block ``block`` of ``array`` (chunked (block rows, columns)), all its
    chunks at once.

    Returns only when every chunk is on disk; the first failure is raised after the others finished,
    so no thread writes into the store once this has returned.
    """
    encode, store = chunk_encoder(array), array.store_path.store
    chunk_rows, chunk_columns = array.chunks
    if encode is None or not isinstance(store, LocalStore):
        array[block * chunk_rows : block * chunk_rows + len(rows)] = rows
        return
    folder = Path(store.root) / array.store_path.path
    keys = [
        array.metadata.encode_chunk_key((block, column))
        for column in range(-(-array.shape[1] // chunk_columns))
    ]
    (folder / keys[0]).parent.mkdir(parents=True, exist_ok=True)
    fill = array.metadata.fill_value

    def write_chunk(column: int) -> None:
        piece = rows[:, column * chunk_columns : (column + 1) * chunk_columns]
        # an edge chunk is stored whole, padded with the fill value
        if piece.shape != (chunk_rows, chunk_columns):
            whole = np.full((chunk_rows, chunk_columns), fill, dtype=array.dtype)
            whole[: piece.shape[0], : piece.shape[1]] = piece
            piece = whole
        write_file(folder / keys[column], encode(np.ascontiguousarray(piece, dtype=array.dtype)))

    futures = [_pool().submit(write_chunk, column) for column in range(len(keys))]
    wait(futures)
    for future in futures:
        future.result()


def write_file(path: Path, pieces: list) -> None:
    """Write ``pieces`` to ``path`` atomically: into a temporary file beside it, then renamed into
    place."""
    partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}.partial")
    try:
        with open(partial, "wb") as handle:
            for piece in pieces:
                handle.write(piece)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
