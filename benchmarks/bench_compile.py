"""torch.compile trial: the extraction's forward (lfe's batches; with ``--hooks``, lfe's pooling
hooks in place before the first compiled call, so they are traced) compiled against eager,
alternating runs after a warm-up.

    python benchmarks/bench_compile.py [--model DIR] [--size base] [--langs 9] [--sids 20] [--device
        cpu] [--dtype float32] [--mode default] [--hooks]

lfe keeps torch.compile behind a setting only if this shows it faster with the rows unchanged (issue
18); prints a Markdown table with the compile time, the best and all runs of each, and the rows'
largest difference.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_extract import _spread, _sync, cpu_name, synthetic_corpus  # noqa: E402
from lfe.engine import ExtractSettings  # noqa: E402
from lfe.engine.hooks import PoolingHooks  # noqa: E402
from lfe.engine.prepare import pad_id, tokenize  # noqa: E402
from lfe.engine.runners import forward, padded_batches  # noqa: E402
from lfe.engine.settings import resolved  # noqa: E402
from lfe.models.loading import load, resolve_source  # noqa: E402
from lfe.models.tiny import build_tiny_model  # noqa: E402


def pooled_pass(model, adapter, batches, device, hooked: bool) -> tuple[float, list[torch.Tensor]]:
    """(seconds, pooled [B, L, K] per batch) of one pass over ``batches``; without hooks, no
    rows."""
    out = torch.empty(
        (max(len(b[0]) for b in batches), adapter.n_layers, adapter.n_neurons), device=device
    )
    rows = []
    started = time.perf_counter()
    with torch.inference_mode():
        hooks = PoolingHooks(adapter, out) if hooked else None
        with hooks or contextlib.nullcontext():
            for _, input_ids, mask, positions, pooling in batches:
                view = hooks.set_batch(pooling.to(device)) if hooks else None
                forward(model, adapter, input_ids, mask, positions, device)
                if view is not None:
                    rows.append(view.clone())
    _sync(str(device))
    return time.perf_counter() - started, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--size", default="base")
    parser.add_argument("--langs", type=int, default=9)
    parser.add_argument("--sids", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--mode", default="default", help="torch.compile mode")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--hooks", action="store_true", help="with lfe's pooling hooks (and the rows compared)"
    )
    args = parser.parse_args()
    model_dir = args.model or str(Path(tempfile.mkdtemp()) / f"llama-{args.size}")
    if not Path(model_dir, "config.json").exists():
        build_tiny_model("llama", model_dir, size=args.size)
    settings = resolved(ExtractSettings(device=args.device, dtype=args.dtype))
    loaded = load(resolve_source(model_dir), args.dtype, args.device)
    token_ids = tokenize(
        loaded.tokenizer, synthetic_corpus(args.langs, args.sids), settings, loaded.model.config
    ).ids
    batches = list(
        padded_batches(
            token_ids, settings.batch_tokens, settings.padding_side, pad_id(loaded.tokenizer)
        )
    )
    device, adapter = torch.device(args.device), loaded.adapter
    eager = loaded.model.base_model
    started = time.perf_counter()
    compiled = torch.compile(eager, mode=args.mode, dynamic=True)
    runs: dict[str, list[float]] = {}
    rows: dict[str, list[torch.Tensor]] = {}
    for repeat in range(args.repeats + 1):
        for name, module in (("compiled", compiled), ("eager", eager)):
            seconds, rows[name] = pooled_pass(
                _Wrapped(module), adapter, batches, device, args.hooks
            )
            if repeat == 0 and name == "compiled":
                compile_seconds = time.perf_counter() - started
            if repeat:
                runs.setdefault(f"{name}{' + hooks' if args.hooks else ''}", []).append(seconds)
    diff = max(
        (float((a - b).abs().max()) for a, b in zip(rows["eager"], rows["compiled"])),
        default=float("nan"),
    )
    machine = torch.cuda.get_device_name() if args.device.startswith("cuda") else cpu_name()
    print(
        f"machine: {machine}, {torch.get_num_threads()} threads, torch {torch.__version__}; llama"
        f" {args.size}, {len(token_ids)} samples, {len(batches)} batches;"
        f" torch.compile(mode={args.mode!r}, dynamic=True)\n"
    )
    print("| forward | best | all runs | compiled / eager |\n|---|---|---|---|")
    for name, seconds in runs.items():
        base = min(runs[name.replace("compiled", "eager")])
        print(f"| {name} | {min(seconds):.2f} s | {_spread(seconds)} | {min(seconds) / base:.3f} |")
    print(
        f"\nfirst compiled pass (compiling every shape) {compile_seconds:.1f} s; pooled rows,"
        f" compiled vs eager: largest difference {diff:.1e}"
    )


class _Wrapped:
    """The model as ``forward`` sees it, with ``base_model`` swapped for the eager or compiled
    decoder."""

    def __init__(self, base_model) -> None:
        self.base_model = base_model


if __name__ == "__main__":
    main()
