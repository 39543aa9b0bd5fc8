"""SIGKILL `lfe extract` at random points; after resuming, the store equals an uninterrupted one bit for bit."""

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np

from lfe.store import ActivationStore
from tests.conftest import parallel_rows, write_tsv


def _done_blocks(out, name):
    folder = out / "checkpoints" / name / "done" / "c"
    return len([f for f in os.listdir(folder) if not f.endswith(".partial")]) if folder.exists() else 0


def test_sigkill_at_random_points_then_resume_equals_uninterrupted(tiny_models, tmp_path):
    model = tiny_models("gpt2", size="small")
    corpus = write_tsv(tmp_path / "c.tsv", parallel_rows(langs=("en", "fr", "zh", "hi"), n_sids=30))
    command = [sys.executable, "-m", "lfe", "extract", str(model), "--corpus", str(corpus), "--block-rows", "8",
               "--batch-tokens", "256", "--quiet", "--name", "ckpt", "--out"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same thread count in every run, for identical floats
    subprocess.run(command + [str(tmp_path / "whole.zarr")], check=True, env=env, capture_output=True)
    whole = ActivationStore.open(tmp_path / "whole.zarr").checkpoint("ckpt")
    n_blocks = whole.n_blocks

    out = tmp_path / "killed.zarr"
    rng = random.Random(1234)
    done_at_kill = []
    for _ in range(4):
        target = rng.randint(0, n_blocks - 1)
        process = subprocess.Popen(command + [str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while process.poll() is None and _done_blocks(out, "ckpt") < target and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.03))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
            done_at_kill.append(_done_blocks(out, "ckpt"))
        process.wait()
    assert any(0 < done < n_blocks for done in done_at_kill), done_at_kill  # killed mid-extraction
    finished = subprocess.run(command + [str(out)], env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    resumed = ActivationStore.open(out).checkpoint("ckpt")
    assert resumed.complete
    assert resumed.pooled[:].tobytes() == whole.pooled[:].tobytes()
    assert np.abs(whole.pooled[:]).sum() > 0
