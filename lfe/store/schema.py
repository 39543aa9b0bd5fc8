"""The store's fixed facts: its schema version, chunk codecs, checkpoint names, write errors."""

from __future__ import annotations

import errno
import re

from zarr.codecs import Crc32cCodec, ZstdCodec

SCHEMA_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Both keep a checksum per chunk, so corruption is detectable. Pooled activations compress poorly
# (zstd saved 6-12 percent in benchmarks/RESULTS.md) and zstd halves write throughput: "none" is
# for runs where the writer cannot keep up with the device.
CODECS = {
    "zstd": (ZstdCodec(level=3, checksum=True),),
    "none": (Crc32cCodec(),),
}
# Zarr v3 dimension names of each array, so `xarray.open_zarr` on a group labels its axes (new
# stores)
DIMENSIONS = {
    "corpus": ("sample",),
    "pooled": ("sample", "neuron"),
    "positive": ("sample", "neuron"),
    "norms": ("sample",),
    "n_tokens": ("sample",),
    "done": ("block",),
    "similarity": ("sample", "sample_other"),
    "zscores": ("language", "neuron"),
    "regions": ("language", "neuron"),
    "key_neurons_per_layer": ("language", "layer"),
    "lape_probability": ("language", "neuron"),
    "lape_regions": ("language", "neuron"),
    "ap_scores": ("language", "neuron"),
    "ap_regions": ("language", "neuron"),
}


def write_failure(error: OSError) -> str:
    """What an OS error while writing (or opening a path) means for the user, and what to do."""
    hints = {
        errno.ENOSPC: (
            "no space left on the device; free space, then rerun the same command: finished blocks"
            " are kept"
        ),
        errno.EDQUOT: (
            "the disk quota is exhausted; free space, then rerun the same command: finished blocks"
            " are kept"
        ),
        errno.EROFS: "the store is on a read-only file system; pass an --out on a writable one",
        errno.EACCES: "no permission to write the store; fix its permissions or pass another --out",
        errno.ENAMETOOLONG: "a name in this path is too long; pass a shorter path",
        errno.ENOTDIR: "a part of this path is a file, not a folder; pass another path",
        errno.EISDIR: "this is a folder where a file is needed; pass a file",
        errno.EEXIST: "this exists already (as a file?); pass another path",
        errno.ENOENT: "no such file or folder; check the path",
    }
    return hints.get(
        error.errno or 0, f"{error.strerror or error}; rerun the same command to resume"
    )


def checkpoint_name_error(name: str) -> str | None:
    """Why ``name`` cannot name a checkpoint group, or None if it can."""
    if not _NAME.match(name):
        return f"checkpoint name {name!r} must be letters, digits, '.', '_' or '-' (pass --name)"
    return None
