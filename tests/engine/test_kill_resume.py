"""SIGKILL `lfe extract` at random points; after resuming, the store equals an uninterrupted one bit
for bit."""

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

from lfe.store import ActivationStore
from tests.helpers import lfe_here, parallel_rows, write_tsv


def _done_blocks(out, name):
    folder = out / "checkpoints" / name / "done" / "c"
    return (
        len([f for f in os.listdir(folder) if not f.endswith(".partial")]) if folder.exists() else 0
    )


KILLS = int(os.environ.get("LFE_KILLS", 3))  # RELIABILITY.md's longer campaign sets more


def test_sigkill_at_random_points_then_resume_equals_uninterrupted(tiny_models, tmp_path) -> None:
    model = tiny_models("gpt2", size="small")
    corpus = write_tsv(tmp_path / "c.tsv", parallel_rows(langs=("en", "fr", "zh", "hi"), n_sids=30))
    command = [
        sys.executable,
        "-m",
        "lfe",
        "extract",
        str(model),
        "--corpus",
        str(corpus),
        "--block-rows",
        "4",
        "--batch-tokens",
        "256",
        "--quiet",
        "--name",
        "ckpt",
        "--out",
    ]
    # the same thread count in every run, for identical floats
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    lfe_here(command + [str(tmp_path / "whole.zarr")])
    whole = ActivationStore.open(tmp_path / "whole.zarr").checkpoint("ckpt")
    n_blocks = whole.n_blocks

    out = tmp_path / "killed.zarr"
    rng = random.Random(1234)
    done_at_kill, completed = [], 0
    while len(done_at_kill) < KILLS:
        # each run gets a little further before its kill: at a random block count, after a random
        # delay
        target = min(n_blocks - 1, _done_blocks(out, "ckpt") + rng.randint(0, 2))
        process = subprocess.Popen(
            command + [str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 120
        while (
            process.poll() is None
            and _done_blocks(out, "ckpt") < target
            and time.monotonic() < deadline
        ):
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.05))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
            done_at_kill.append(_done_blocks(out, "ckpt"))
        # finished before its kill: check, start over
        elif ActivationStore.open(out).checkpoint("ckpt").complete:
            assert (
                ActivationStore.open(out).checkpoint("ckpt").pooled[:].tobytes()
                == whole.pooled[:].tobytes()
            )
            shutil.rmtree(out)
            completed += 1
    # most mid-extraction
    assert sum(0 < done < n_blocks for done in done_at_kill) >= KILLS // 2, done_at_kill
    lfe_here(command + [str(out)])
    resumed = ActivationStore.open(out).checkpoint("ckpt")
    assert resumed.complete
    assert resumed.pooled[:].tobytes() == whole.pooled[:].tobytes()
    assert resumed.norms[:].tobytes() == whole.norms[:].tobytes()
    assert np.abs(whole.pooled[:]).sum() > 0
