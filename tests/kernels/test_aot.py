"""lfe's Triton kernels compiled for an H100 (sm_90) here, with no GPU: what the compiler made of
them."""

import json
import os
import subprocess
import sys

import pytest

try:
    import triton  # noqa: F401

    HAVE_TRITON = True
except ImportError:
    HAVE_TRITON = False


@pytest.fixture(scope="module")
def compiled():
    # its own process: the interpreter (on for the other kernel tests) replaces the kernels it would
    # compile
    environment = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    run = subprocess.run(
        [sys.executable, "-m", "lfe.kernels.aot", "--json"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return [json.loads(line) for line in run.stdout.splitlines()]


@pytest.mark.skipif(not HAVE_TRITON, reason="Triton cannot be imported here (pip install triton)")
def test_every_kernel_compiles_for_an_h100_with_its_launch_settings(compiled) -> None:
    variants = {(entry["kernel"], entry["variant"]) for entry in compiled}
    assert {kernel for kernel, _ in variants} == {"pool", "segments", "stats", "activation"}
    assert {variant for kernel, variant in variants if kernel == "stats"} == {
        "bf16",
        "fp16",
        "fp32",
    }
    for entry in compiled:
        name = f"{entry['kernel']} {entry['variant']} {entry['launch']}"
        assert entry["spilled_bytes"] == 0, f"{name} spills registers to local memory"
        assert entry["programs_per_sm"] >= 2, f"{name}: at most one program fits on an SM"
        if entry["kernel"] != "activation":  # the loops' loads overlap the arithmetic
            assert entry["cp_async"] > 0, f"{name}: loads not pipelined"
    for entry in (entry for entry in compiled if entry["kernel"] == "stats"):
        assert entry["mma"] > 0, f"stats {entry['variant']}: dots off the tensor cores"
        # a fused x·x − piece would split the exact square, not its float32 rounding (the torch
        # path's)
        assert entry["float_fmas"] == 0, f"stats {entry['variant']}: multiply-adds fused"
