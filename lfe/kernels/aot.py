"""lfe's Triton kernels compiled ahead of time for a GPU target, on a machine without one.

Triton compiles to PTX and a cubin with its own ptxas and needs no GPU for that, so here every
kernel is compiled with its launch settings (``LAUNCH``) for an H100 (sm_90): it catches compile
errors before scarce GPU time, and shows what the compiler made of each setting: registers per
thread, spills, shared memory, how many programs fit on one SM, and whether the loads were
pipelined (cp.async), the dots reached the tensor cores (mma) and where float multiply-adds
were fused (FMA)::

    python -m lfe.kernels.aot [--sweep]      # a table; --sweep: every setting bench_kernels sweeps

The shapes are the large ones the launchers see in the benchmarks (every block at its cap), with
16-byte-aligned pointers and sizes divisible by 16, as torch allocations and model widths give.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import tempfile

import torch

H100 = {"arch": 90, "registers": 65536, "shared_bytes": 228 * 1024, "threads": 2048, "programs": 32}
_ALIGNED = "D"  # Triton's mark for a pointer or integer divisible by 16
_TORCH_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


@dataclasses.dataclass(frozen=True)
class Compiled:
    kernel: str
    variant: str
    launch: dict
    registers: int
    spilled_bytes: int
    shared_bytes: int
    programs_per_sm: int
    cp_async: int
    mma: int
    float_fmas: int

    def row(self) -> str:
        settings = ", ".join(f"{key} {value}" for key, value in self.launch.items())
        return (
            f"| {self.kernel} | {self.variant} | {settings} | {self.registers} |"
            f" {self.spilled_bytes} | {self.shared_bytes // 1024} | {self.programs_per_sm} |"
            f" {self.cp_async} | {self.mma} | {self.float_fmas} |"
        )


HEADER = (
    "| kernel | variant | launch | registers | spilled bytes | shared KiB | programs / SM |"
    " cp.async | mma | float FMAs |\n|---|---|---|---|---|---|---|---|---|---|"
)


def _specs(launch: dict) -> dict:
    """kernel key -> [(variant, kernel function, signature, constexprs, options)] for these
    settings."""
    from lfe.kernels import triton_kernels as tk

    def pointer(dtype: torch.dtype) -> tuple[str, str]:
        return (f"*{dtype}", _ALIGNED)

    # widths and strides are multiples of 16; token and row counts not
    index, count = ("i32", _ALIGNED), ("i32", "")
    pool, segments, stats, act = (
        launch["pool"],
        launch["segments"],
        launch["stats"],
        launch["activation"],
    )
    specs: dict[str, list] = {"pool": [], "segments": [], "stats": [], "activation": []}
    for dtype in ("bf16", "fp16", "fp32"):
        specs["pool"].append(
            (
                dtype,
                tk._masked_mean_pool_kernel,
                dict(
                    x_ptr=pointer(dtype),
                    w_ptr=pointer("fp32"),
                    out_ptr=pointer("fp32"),
                    T=count,
                    K=index,
                    stride_xb=index,
                    stride_xt=index,
                    stride_ob=index,
                ),
                dict(BLOCK_T=pool["rows"], BLOCK_K=pool["cols"], NUM_STAGES=pool["num_stages"]),
                {"num_warps": pool["num_warps"]},
            )
        )
        specs["segments"].append(
            (
                dtype,
                tk._segment_sums_kernel,
                dict(
                    x_ptr=pointer(dtype),
                    offsets_ptr=pointer("i64"),
                    sums_ptr=pointer("fp32"),
                    K=index,
                    stride_x=index,
                ),
                dict(
                    BLOCK_N=segments["rows"],
                    BLOCK_K=segments["cols"],
                    NUM_STAGES=segments["num_stages"],
                ),
                {"num_warps": segments["num_warps"]},
            )
        )
        value_parts, square_parts = tk.BFLOAT16_PIECES[_TORCH_DTYPES[dtype]]
        specs["stats"].append(
            (
                dtype,
                tk._grouped_stats_kernel,
                dict(
                    a_ptr=pointer(dtype),
                    groups_ptr=pointer("i32"),
                    sums_ptr=pointer("fp32"),
                    squares_ptr=pointer("fp32"),
                    N=count,
                    K=index,
                    G=count,
                    stride_a=index,
                ),
                dict(
                    BLOCK_N=stats["rows"],
                    BLOCK_K=stats["cols"],
                    BLOCK_G=16,
                    VALUE_PARTS=value_parts,
                    SQUARE_PARTS=square_parts,
                ),
                {**_options(stats), **tk.STATS_OPTIONS},
            )
        )
    for kind, (code, gated) in tk._KINDS.items():
        specs["activation"].append(
            (
                f"{kind} bf16",
                tk._masked_activation_kernel,
                dict(
                    x_ptr=pointer("bf16"),
                    up_ptr=pointer("bf16"),
                    table_ptr=pointer("fp32"),
                    ids_ptr=pointer("i64"),
                    out_ptr=pointer("bf16"),
                    T=count,
                    K=index,
                ),
                dict(KIND=code, GATED=gated, BLOCK_K=act["cols"]),
                _options(act),
            )
        )
    return specs


def _options(launch: dict) -> dict:
    return {key: value for key, value in launch.items() if key in ("num_warps", "num_stages")}


def compile_for(kernel: str, launch: dict | None = None) -> list[Compiled]:
    """Compile every variant of one kernel (``pool``, ``segments``, ``stats``, ``activation``) for
    an H100."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from lfe.kernels import triton_kernels

    if os.environ.get("TRITON_INTERPRET") == "1":
        raise RuntimeError(
            "compiling ahead of time needs TRITON_INTERPRET unset (the interpreter compiles"
            " nothing)"
        )
    settings = {**triton_kernels.LAUNCH, **({kernel: launch} if launch else {})}
    compiled = []
    for variant, function, arguments, constexprs, options in _specs(settings)[kernel]:
        signature = {name: kind for name, (kind, _) in arguments.items()} | dict.fromkeys(
            constexprs, "constexpr"
        )
        attrs = {
            (position,): [["tt.divisibility", 16]]
            for position, (_, mark) in enumerate(arguments.values())
            if mark == _ALIGNED
        }
        binary = triton.compile(
            ASTSource(fn=function, signature=signature, constexprs=constexprs, attrs=attrs),
            target=GPUTarget("cuda", H100["arch"], 32),
            options=options,
        )
        registers, spilled = _resource_use(binary.asm["cubin"])
        shared, ptx = binary.metadata.shared, binary.asm["ptx"]
        compiled.append(
            Compiled(
                kernel,
                variant,
                settings[kernel],
                registers,
                spilled,
                shared,
                _programs_per_sm(registers, shared, options["num_warps"]),
                len(re.findall(r"cp\.async\.(?:ca|cg)", ptx)),
                len(re.findall(r"\b(?:mma\.sync|wgmma\.mma_async)", ptx)),
                len(re.findall(r"\bfma\.rn\.f32", ptx)),
            )
        )
    return compiled


def _resource_use(cubin: bytes) -> tuple[int, int]:
    """(registers per thread, bytes spilled to local memory) that ptxas gave the kernel, by
    cuobjdump."""
    import triton

    tool = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    with tempfile.NamedTemporaryFile(suffix=".cubin") as file:
        file.write(cubin)
        file.flush()
        usage = subprocess.run(
            [tool, "--dump-resource-usage", file.name], capture_output=True, text=True, check=True
        ).stdout
    return _count("REG", usage), _count("LOCAL", usage)


def _count(what: str, usage: str) -> int:
    """The number after ``what:`` in cuobjdump's resource usage line."""
    found = re.search(rf"{what}:(\d+)", usage)
    if found is None:
        raise RuntimeError(f"cuobjdump printed no {what} count: {usage!r}")
    return int(found.group(1))


def _programs_per_sm(registers: int, shared_bytes: int, num_warps: int) -> int:
    """Programs (thread blocks) one H100 SM holds at once: the least of the register, shared-memory
    and thread limits (registers are handed out per warp in 256s; each block reserves 1 KiB of
    shared memory)."""
    per_warp = -(-registers * 32 // 256) * 256
    by_registers = H100["registers"] // (per_warp * num_warps)
    by_shared = H100["shared_bytes"] // (shared_bytes + 1024)
    by_threads = H100["threads"] // (32 * num_warps)
    return min(by_registers, by_shared, by_threads, H100["programs"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sweep", action="store_true", help="every launch setting bench_kernels.py --sweep times"
    )
    parser.add_argument("--kernels", nargs="*", default=["pool", "segments", "stats", "activation"])
    parser.add_argument(
        "--json", action="store_true", help="one JSON object per compiled kernel, not a table"
    )
    args = parser.parse_args()
    from lfe.kernels.triton_kernels import SWEEP

    if not args.json:
        print(HEADER)
    for kernel in args.kernels:
        for launch in SWEEP.get(kernel, [None]) if args.sweep else [None]:
            for compiled in compile_for(kernel, launch):
                print(
                    json.dumps(dataclasses.asdict(compiled)) if args.json else compiled.row(),
                    flush=True,
                )


if __name__ == "__main__":
    main()
