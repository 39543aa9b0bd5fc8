"""Perplexity throughput with a deactivation mask against without, same model and text, one run.

The weight form zeroes down-projection columns once, so a mask should cost nothing per token; the
per-row forms multiply every layer's neurons by a mask row, after the activation (hooks) or inside
it (the fused masked-activation kernel: Triton on CUDA, torch elsewhere). Goal: a mask at most 10
percent slower.

    python benchmarks/bench_ablate.py [--model DIR] [--size small] [--tokens 4096] [--window 512]
    [--device cuda]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_extract import WORDS, cpu_name  # noqa: E402
from lfe.intervene.deactivate import deactivated, row_masks  # noqa: E402
from lfe.intervene.evaluate import negative_log_likelihood  # noqa: E402
from lfe.models.families import adapter_for  # noqa: E402
from lfe.models.loading import load_model, resolve_source  # noqa: E402
from lfe.models.tiny import build_tiny_model  # noqa: E402


def best(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--size", default="small")
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    model_dir = args.model or str(
        build_tiny_model("llama", Path(tempfile.mkdtemp()) / "m", size=args.size)
    )
    model, tokenizer = load_model(resolve_source(model_dir), args.dtype, args.device)
    adapter = adapter_for(model)
    rng = np.random.default_rng(0)
    text = " ".join(rng.choice(WORDS["fr"] + WORDS["en"], args.tokens))
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][: args.tokens]
    total = adapter.n_layers * adapter.n_neurons
    mask = np.zeros(total, dtype=bool)
    mask[rng.choice(total, total // 10, replace=False)] = True

    def plain() -> None:
        negative_log_likelihood(model, ids, args.window)

    def weight_form() -> None:
        with deactivated(adapter, mask):
            negative_log_likelihood(model, ids, args.window)

    def row_form(fused: bool):
        def run() -> None:
            with row_masks(adapter, (~mask)[None], torch.zeros(1, dtype=torch.long), fused=fused):
                negative_log_likelihood(model, ids, args.window)

        return run

    plain()  # warm-up
    row_form(True)()  # compiles the kernel on CUDA
    base, weights = best(plain, args.repeats), best(weight_form, args.repeats)
    hooks, fused = best(row_form(False), args.repeats), best(row_form(True), args.repeats)
    machine = torch.cuda.get_device_name() if args.device.startswith("cuda") else cpu_name()
    print(
        f"machine: {machine}, torch {torch.__version__}, {args.dtype}\nmodel:"
        f" {model.config.model_type} {args.size}, {adapter.n_layers} x {adapter.n_neurons} neurons;"
        f" {len(ids)} tokens, windows of {args.window}, mask of 10% of the neurons; best of"
        f" {args.repeats}\n"
    )
    print("| form | tokens/s | time / unmasked |\n|---|---|---|")
    for name, seconds in (
        ("no mask", base),
        ("weight form", weights),
        ("per-row hooks", hooks),
        ("per-row fused masked activation", fused),
    ):
        print(f"| {name} | {len(ids) / seconds:,.0f} | {seconds / base:.3f} |")


if __name__ == "__main__":
    main()
