"""Extraction speed, as ratios against baselines measured in the same run on the same machine.

1. engine / bare forward: the same batches through the decoder with no hooks and no store (goal <= 1.05);
2. naive / engine: what the paper's released code does (batch size 1, one ``generate`` call per
   sentence, a device-to-host copy per layer per sentence, rows kept in a Python list) (goal >= 2.5);
3. the engine's model FLOP/s (2 x non-embedding parameters x tokens / time) as a fraction of this
   machine's matmul FLOP/s (goal >= 0.75);
4. store write throughput against writing the same bytes to a raw file.

    python benchmarks/bench_extract.py [--model DIR] [--size base] [--langs 9] [--sids 20] [--device cpu]

Without --model it builds a random LLaMA-like model of Gemma-3-270M's decoder shape (``--size base``)
with a byte-level tokenizer. Prints a Markdown table and writes JSON to benchmarks/out/.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lfe.corpus import Corpus
from lfe.corpus.corpus import rows_fingerprint
from lfe.engine import ExtractSettings, extract
from lfe.engine.loop import forward, padded_batches
from lfe.engine.prepare import pad_id, tokenize
from lfe.engine.settings import resolved
from lfe.models.loading import TORCH_DTYPES, load, resolve_source
from lfe.models.tiny import build_tiny_model
from lfe.records import CheckpointMeta
from lfe.store import ActivationStore

WORDS = {
    "en": "the house river light morning people water city long small read write go see".split(),
    "fr": "la maison rivière lumière matin gens eau ville long petit lire écrire aller voir".split(),
    "es": "la casa río luz mañana gente agua ciudad largo pequeño leer escribir ir ver".split(),
    "pt": "a casa rio luz manhã povo água cidade longo pequeno ler escrever ir ver".split(),
    "id": "rumah sungai cahaya pagi orang air kota panjang kecil baca tulis pergi lihat".split(),
    "vi": "nhà sông ánh sáng buổi sáng người nước thành phố dài nhỏ đọc viết đi xem".split(),
    "zh": "房子 河流 光 早晨 人们 水 城市 长 小 读 写 去 看".split(),
    "hi": "घर नदी प्रकाश सुबह लोग पानी शहर लंबा छोटा पढ़ना लिखना जाना देखना".split(),
    "ar": "بيت نهر ضوء صباح ناس ماء مدينة طويل صغير قرأ كتب ذهب رأى".split(),
}


def synthetic_corpus(n_langs: int, n_sids: int, seed: int = 0) -> Corpus:
    """Sentences of 2-12 random words (about 15-90 byte tokens, like Bible verses in a real tokenizer)."""
    rng = random.Random(seed)
    langs = list(WORDS)[:n_langs]
    lengths = [rng.randint(2, 12) for _ in range(n_sids)]
    texts = tuple(" ".join(rng.choice(WORDS[lang]) for _ in range(n)) for lang in langs for n in lengths)
    return Corpus(tuple(langs), tuple(str(i) for i in range(n_sids)), texts)


def bare_forward(model, adapter, token_ids, settings, block_rows, pad) -> float:
    """The engine's batches through the decoder, with no hooks, no copies and no store."""
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(token_ids), block_rows):
            block = token_ids[start:start + block_rows]
            for _, input_ids, mask, positions, _ in padded_batches(block, settings.batch_tokens, settings.padding_side, pad):
                forward(model, adapter, input_ids, mask, positions, torch.device(settings.device))
    _sync(settings.device)
    return time.perf_counter() - started


def naive_extract(model, tokenizer, adapter, texts, device) -> float:
    """The released reference code's way: generate per sentence, .cpu() per layer, a list of rows."""
    rows, captured = [], []
    hooks = []
    for module in adapter.neuron_modules:
        if adapter.read == "output":
            hooks.append(module.register_forward_hook(lambda m, a, out: captured.append(out[0].float().cpu().numpy())))
        else:
            hooks.append(module.register_forward_pre_hook(lambda m, a: captured.append(a[0][0].float().cpu().numpy())))
    started = time.perf_counter()
    try:
        for text in texts:
            captured.clear()
            inputs = tokenizer(text, add_special_tokens=False, return_tensors="pt").to(device)
            model.generate(**inputs, max_new_tokens=1, do_sample=False, pad_token_id=tokenizer.pad_token_id or 0)
            rows.append(np.concatenate([layer.mean(axis=0) for layer in captured[: adapter.n_layers]]))
    finally:
        for hook in hooks:
            hook.remove()
    return time.perf_counter() - started


def matmul_flops(device: str, dtype: torch.dtype, repeats: int = 5) -> float:
    """The best FLOP/s of one large square matrix product in the model's dtype."""
    n = 8192 if device.startswith("cuda") else 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        started = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - started)
    return 2 * n**3 / best


def write_throughput(rows: np.ndarray, block_rows: int, n_neurons: int, compression: str) -> tuple[float, float]:
    """(store bytes/s, raw file bytes/s) for the same rows, in their dtype."""
    folder = Path(tempfile.mkdtemp())
    try:
        langs, sids, texts = ["x"] * len(rows), [str(i) for i in range(len(rows))], ["t"] * len(rows)
        store = ActivationStore.create(folder / "w.zarr", {"fingerprint": rows_fingerprint(langs, sids, texts)}, langs,
                                       sids, texts)
        meta = CheckpointMeta(n_layers=rows.shape[1] // n_neurons, n_neurons=n_neurons, block_rows=block_rows,
                              store_dtype=str(rows.dtype), compression=compression)
        checkpoint = store.create_checkpoint("c", meta, np.ones(len(rows), np.int32))
        # the engine hands the writer each block's norms, computed on the device: so does this
        norms = np.sqrt(np.einsum("ij,ij->i", rows, rows, dtype=np.float64))
        started = time.perf_counter()
        for block in range(checkpoint.n_blocks):
            span = checkpoint.block_slice(block)
            checkpoint.write_block(block, rows[span], norms[span])
        store_seconds = time.perf_counter() - started
        started = time.perf_counter()
        with open(folder / "raw.bin", "wb") as handle:
            handle.write(rows.tobytes())
        raw_seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(folder)
    return rows.nbytes / store_seconds, rows.nbytes / raw_seconds


def _spread(runs: list[float]) -> str:
    return f"{min(runs):.2f}-{max(runs):.2f} s"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            return next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.machine()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a model directory; built there (random) if missing")
    parser.add_argument("--size", default="base")
    parser.add_argument("--langs", type=int, default=9)
    parser.add_argument("--sids", type=int, default=20)
    parser.add_argument("--batch-tokens", type=int, default=None)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--store-dtype", default="float32")
    parser.add_argument("--compression", default="zstd")
    parser.add_argument("--stats", default="mean", help="what extraction keeps per sample: mean or mean,positive")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline (slow)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/out")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp())
    model_dir = args.model or str(work / f"llama-{args.size}")
    if not Path(model_dir, "config.json").exists():
        build_tiny_model("llama", model_dir, size=args.size)
        print(f"built a random llama-like model of size {args.size} in {model_dir}", flush=True)
    corpus = synthetic_corpus(args.langs, args.sids)
    settings = resolved(ExtractSettings(batch_tokens=args.batch_tokens, dtype=args.dtype, device=args.device,
                                        store_dtype=args.store_dtype, compression=args.compression,
                                        stats=tuple(args.stats.split(","))))
    loaded = load(resolve_source(model_dir), args.dtype, args.device)
    model, tokenizer, adapter = loaded.model, loaded.tokenizer, loaded.adapter
    token_ids = tokenize(tokenizer, corpus, settings, model.config).ids
    tokens = sum(len(ids) for ids in token_ids)
    pad = pad_id(tokenizer)

    # Warm up every batch shape once, then alternate engine and bare runs and keep each one's best:
    # these machines are shared and noisy, and the first pass over new shapes pays set-up costs.
    engine_runs, bare_runs = [], []
    for repeat in range(args.repeats + 1):
        shutil.rmtree(work / "run.zarr", ignore_errors=True)
        [report] = extract(model_dir, corpus, work / "run.zarr", settings=settings, progress=False)
        checkpoint = ActivationStore.open(work / "run.zarr").checkpoint(report.name)
        bare = bare_forward(model, adapter, token_ids, settings, checkpoint.block_rows, pad)
        if repeat:  # the first round is the warm-up
            engine_runs.append(report.seconds)
            bare_runs.append(bare)
    engine_seconds, bare_seconds = min(engine_runs), min(bare_runs)
    naive_seconds = float("nan") if args.no_naive else naive_extract(model, tokenizer, adapter, corpus.texts, args.device)

    embedding = sum(p.numel() for n, p in model.named_parameters() if "embed" in n or "lm_head" in n or "wte" in n
                    or "wpe" in n)
    non_embedding = sum(p.numel() for p in model.parameters()) - embedding
    model_flops = 2 * non_embedding * tokens / engine_seconds
    machine_flops = matmul_flops(args.device, TORCH_DTYPES[args.dtype])
    store_rate, raw_rate = write_throughput(checkpoint.pooled[:], checkpoint.block_rows, checkpoint.n_neurons,
                                             args.compression)

    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else cpu_name()
    results = {
        "machine": f"{device_name}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "model": f"{model.config.model_type} {args.size}, "
                 f"{adapter.n_layers} x {adapter.n_neurons} neurons, {non_embedding / 1e6:.1f} M non-embedding params",
        "corpus": f"{len(corpus.langs)} languages x {corpus.n_sids} sids = {len(corpus)} samples, {tokens} tokens",
        "settings": settings.to_dict(),
        "engine_runs_s": engine_runs, "bare_runs_s": bare_runs,
        "engine_s": engine_seconds, "bare_forward_s": bare_seconds, "naive_s": naive_seconds,
        "engine_over_bare": engine_seconds / bare_seconds,
        "naive_over_engine": naive_seconds / engine_seconds,
        "engine_tokens_per_s": tokens / engine_seconds,
        "model_flops": model_flops, "machine_matmul_flops": machine_flops,
        "flops_fraction": model_flops / machine_flops,
        "store_write_MBps": store_rate / 1e6, "raw_write_MBps": raw_rate / 1e6,
        "store_over_raw": store_rate / raw_rate,
    }
    Path(args.out).mkdir(parents=True, exist_ok=True)
    stats = args.stats.replace(",", "+")
    tag = f"{args.device.replace(':', '')}-{args.size}-{args.dtype}-{args.store_dtype}-{args.compression}-{stats}"
    (Path(args.out) / f"extract-{tag}.json").write_text(json.dumps(results, indent=2))
    print(f"machine: {results['machine']}\nmodel: {results['model']}\ncorpus: {results['corpus']}")
    print(f"settings: {', '.join(f'{k}={v}' for k, v in settings.to_dict().items())}\n")
    print("| measure | value | goal |\n|---|---|---|")
    print(f"| engine / bare forward | {results['engine_over_bare']:.3f} (best of {args.repeats}: {engine_seconds:.2f} s / "
          f"{bare_seconds:.2f} s; all runs {_spread(engine_runs)} / {_spread(bare_runs)}) | <= 1.05 |")
    print(f"| naive / engine | {results['naive_over_engine']:.2f} ({naive_seconds:.2f} s / {engine_seconds:.2f} s) | >= 2.5 |")
    print(f"| model FLOP/s / matmul FLOP/s | {results['flops_fraction']:.2f} ({model_flops / 1e9:.1f} / "
          f"{machine_flops / 1e9:.1f} GFLOP/s) | >= 0.75 |")
    print(f"| store write / raw write | {results['store_over_raw']:.2f} ({store_rate / 1e6:.0f} / {raw_rate / 1e6:.0f} MB/s) | |")
    print(f"| engine throughput | {tokens / engine_seconds:,.0f} tokens/s, {len(corpus) / engine_seconds:.1f} samples/s | |")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
