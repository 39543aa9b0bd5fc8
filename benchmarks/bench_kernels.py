"""Bytes moved per second by each kernel, its torch path and a plain copy of the same bytes, one
run.

On CUDA: the Triton kernel, the torch path and ``torch.clone`` of the input (the bandwidth limit).
Goals there: pooling and column statistics at least 70% of the copy, the masked activation at most
1.1 x the unmasked one, each at least as fast as torch eager. On CPU: the torch paths against numpy.

    python benchmarks/bench_kernels.py [--device cuda] [--dtype bfloat16]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_extract import cpu_name  # noqa: E402
from lfe.kernels import reference  # noqa: E402
from lfe.kernels.triton_kernels import SWEEP  # noqa: E402


def timed(run, device: str, repeats: int = 10) -> float:
    run()
    if device == "cuda":
        torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument(
        "--sweep",
        nargs="*",
        default=None,
        choices=sorted(SWEEP),
        help="on CUDA: time the launch settings of these kernels first (all if none named)",
    )
    args = parser.parse_args()
    device, dtype = args.device, getattr(torch, args.dtype)
    big = device == "cuda"
    batch, tokens, width = (32, 512, 16384) if big else (8, 128, 4096)
    x = torch.randn(batch, tokens, width, device=device).to(dtype)
    up = torch.randn_like(x)
    mask = torch.ones(batch, tokens, dtype=torch.bool, device=device)
    mask[:, tokens * 3 // 4 :] = False
    rows = torch.randn(900 if big else 300, width * (16 if big else 1), device=device).to(dtype)
    groups = torch.arange(rows.shape[0], device=device) % 9
    table = torch.ones(2, width, device=device)
    table[1, ::10] = 0
    ids = torch.arange(batch, device=device) % 2
    size = x.element_size()
    # bytes each path must read and write (padding need not be read), and the tensor whose copy
    # (2 x its bytes: read + write) gives the bandwidth limit
    cases = {
        "masked mean pool": (
            int(mask.sum()) * width * size,
            lambda k: k.masked_mean_pool(x, mask),
            lambda: reference.masked_mean_pool_torch(x, mask),
            x,
        ),
        "masked positive count": (
            int(mask.sum()) * width * size,
            lambda k: k.masked_positive_count(x, mask),
            lambda: reference.masked_positive_count_torch(x, mask),
            x,
        ),
        "grouped column stats": (
            rows.numel() * size,
            lambda k: k.grouped_column_stats(rows, groups, 9),
            lambda: reference.grouped_column_stats_torch(rows, groups, 9),
            rows,
        ),
        "masked activation (silu gate)": (
            3 * x.numel() * size,
            lambda k: k.masked_activation("silu_gate", x, up, table, ids),
            lambda: reference.masked_activation_torch("silu_gate", x, up, table, ids),
            x,
        ),
    }
    print(
        f"machine: {torch.cuda.get_device_name() if big else cpu_name()}, torch"
        f" {torch.__version__}, dtype {args.dtype}, pool/activation [{batch}, {tokens}, {width}],"
        f" stats [{rows.shape[0]}, {rows.shape[1]}] in 9 groups\n"
    )
    print("| kernel | path | ms | GB/s | / copy |\n|---|---|---|---|---|")
    import lfe.kernels as kernels

    if big and args.sweep is not None:
        runs = {
            "pool": lambda: kernels.masked_mean_pool(x, mask),
            "stats": lambda: kernels.grouped_column_stats(rows, groups, 9),
            "activation": lambda: kernels.masked_activation("silu_gate", x, up, table, ids),
        }
        sweep({key: run for key, run in runs.items() if key in (args.sweep or runs)})
    for name, (nbytes, fast, torch_path, copied) in cases.items():
        copy_seconds = timed(copied.clone, device)
        copy_rate = 2 * copied.numel() * copied.element_size() / copy_seconds
        times = {"torch": timed(torch_path, device)}
        if big:
            os.environ["LFE_KERNELS"] = "triton"
            times["triton"] = timed(lambda fast=fast: fast(kernels), device)
        else:
            times["numpy"] = timed(
                lambda name=name: _numpy_twin(name, x, up, mask, rows, groups), device
            )
        for path, seconds in times.items():
            rate = nbytes / seconds
            print(
                f"| {name} | {path} | {seconds * 1e3:.3f} | {rate / 1e9:.1f} |"
                f" {rate / copy_rate:.2f} |"
            )
        print(f"| {name} | copy | {copy_seconds * 1e3:.3f} | {copy_rate / 1e9:.1f} | 1.00 |")
    if big:
        eager = timed(lambda: torch.nn.functional.silu(x) * up, device)
        masked = timed(lambda: kernels.masked_activation("silu_gate", x, up, table, ids), device)
        unmasked = timed(
            lambda: kernels.masked_activation("silu_gate", x, up, table[:1], ids * 0), device
        )
        print(
            "\nmasked activation (Triton) / unmasked torch eager silu(x) * up:"
            f" {masked / eager:.2f} (goal <= 1.1)"
        )
        print(
            "masked activation (Triton) / the same kernel with an all-ones mask:"
            f" {masked / unmasked:.2f}"
        )


def sweep(runs: dict) -> None:
    """Time every launch setting of each kernel on this GPU and keep the fastest for the table
    below."""
    import triton

    from lfe.kernels import triton_kernels

    os.environ["LFE_KERNELS"] = "triton"
    for key, run in runs.items():
        timings = []
        for launch in SWEEP[key]:
            triton_kernels.LAUNCH[key] = launch
            try:
                timings.append((timed(run, "cuda"), launch))
            except triton.runtime.errors.OutOfResources as error:  # a setting too big for this GPU
                print(f"sweep {key}: {launch} skipped: {error}")
        timings.sort(key=lambda pair: pair[0])
        print(
            f"sweep {key}: fastest {timings[0][1]} {timings[0][0] * 1e3:.3f} ms; slowest"
            f" {timings[-1][1]} {timings[-1][0] * 1e3:.3f} ms"
        )
        for seconds, launch in timings[:5]:
            print(f"    {seconds * 1e3:.3f} ms {launch}")
        print(f"    for lfe/kernels/triton_kernels.py: LAUNCH[{key!r}] = {timings[0][1]}")
        triton_kernels.LAUNCH[key] = timings[0][1]
    print()


def _numpy_twin(name, x, up, mask, rows, groups):
    if name == "masked mean pool":
        values, weights = x.float().numpy(), mask.numpy().astype(np.float32)
        return np.einsum("bt,btk->bk", weights / weights.sum(1, keepdims=True), values)
    if name == "masked positive count":
        return ((x.float().numpy() > 0) & mask.numpy()[:, :, None]).sum(axis=1, dtype=np.int32)
    if name == "grouped column stats":
        values = rows.float().numpy()
        starts = np.r_[0, np.cumsum(np.bincount(groups.numpy()))[:-1]]
        return [np.add.reduceat(values[np.argsort(groups.numpy(), kind="stable")], starts)]
    values, gate_up = x.float().numpy(), up.float().numpy()
    keep = np.ones(values.shape[-1], dtype=np.float32)
    keep[::10] = 0
    return values / (1 + np.exp(-values)) * gate_up * keep


if __name__ == "__main__":
    main()
