"""Extraction speed, as ratios against baselines measured in the same run on the same machine.

1. engine / bare forward: the same batches through the decoder with no hooks and no store (goal <=
1.05);
2. naive / engine: what the paper's released code does (batch size 1, one ``generate`` call per
   sentence, a device-to-host copy per layer per sentence, rows kept in a Python list) (goal >=
   2.5);
3. the engine's model FLOP/s (2 x non-embedding parameters x tokens / time) as a fraction of this
   machine's matmul FLOP/s (goal >= 0.75);
4. lfe / nnsight: the same batches traced with nnsight (``pip install 'lfe[bench]'``), rows pooled
   in the trace and gathered in memory, checked equal to the store's (goal <= 1.0: no slower while
   writing a store);
5. the store writer against one raw file of the same bytes (goal >= 0.9), and Zarr's own writes (the
   writer before), on whole blocks of the engine's default size, interleaved, medians;
6. with ``--backend vllm``: the same extraction through vLLM (packed batches of the same token
   budget) against the transformers engine and the bare forward, with and without vLLM's start-up,
   and its rows checked against the transformers store's.

    python benchmarks/bench_extract.py [--model DIR] [--size base] [--langs 9] [--sids 20] [--device
    cpu] python benchmarks/bench_extract.py --write-only --store-dtype float16 --compression none
    python benchmarks/bench_extract.py --backend vllm --no-naive

Without --model it builds a random LLaMA-like model of Gemma-3-270M's decoder shape (``--size
base``) with a byte-level tokenizer. Prints a Markdown table and writes JSON to benchmarks/out/.
"""

from __future__ import annotations

import argparse
import importlib.util
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
from lfe.engine.prepare import pad_id, tokenize
from lfe.engine.runners import forward, padded_batches
from lfe.engine.settings import default_block_rows, resolved
from lfe.models.loading import TORCH_DTYPES, load, resolve_source
from lfe.models.tiny import build_tiny_model
from lfe.records import CheckpointMeta, CorpusDescription
from lfe.store import ActivationStore

WORDS = {
    "en": "the house river light morning people water city long small read write go see".split(),
    "fr": (
        "la maison rivière lumière matin gens eau ville long petit lire écrire aller voir".split()
    ),
    "es": "la casa río luz mañana gente agua ciudad largo pequeño leer escribir ir ver".split(),
    "pt": "a casa rio luz manhã povo água cidade longo pequeno ler escrever ir ver".split(),
    "id": "rumah sungai cahaya pagi orang air kota panjang kecil baca tulis pergi lihat".split(),
    "vi": "nhà sông ánh sáng buổi sáng người nước thành phố dài nhỏ đọc viết đi xem".split(),
    "zh": "房子 河流 光 早晨 人们 水 城市 长 小 读 写 去 看".split(),
    "hi": "घर नदी प्रकाश सुबह लोग पानी शहर लंबा छोटा पढ़ना लिखना जाना देखना".split(),
    "ar": "بيت نهر ضوء صباح ناس ماء مدينة طويل صغير قرأ كتب ذهب رأى".split(),
}


def synthetic_corpus(n_langs: int, n_sids: int, seed: int = 0) -> Corpus:
    """Sentences of 2-12 random words (about 15-90 byte tokens, like Bible verses in a real
    tokenizer)."""
    rng = random.Random(seed)
    langs = list(WORDS)[:n_langs]
    lengths = [rng.randint(2, 12) for _ in range(n_sids)]
    texts = tuple(
        " ".join(rng.choice(WORDS[lang]) for _ in range(n)) for lang in langs for n in lengths
    )
    return Corpus(tuple(langs), tuple(str(i) for i in range(n_sids)), texts)


def bare_forward(model, adapter, token_ids, settings, block_rows, pad) -> float:
    """The engine's batches through the decoder, with no hooks, no copies and no store."""
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(token_ids), block_rows):
            block = token_ids[start : start + block_rows]
            for _, input_ids, mask, positions, _ in padded_batches(
                block, settings.batch_tokens, settings.padding_side, pad
            ):
                forward(model, adapter, input_ids, mask, positions, torch.device(settings.device))
    _sync(settings.device)
    return time.perf_counter() - started


def nnsight_extract(
    model, adapter, token_ids, settings, block_rows, pad
) -> tuple[float, np.ndarray]:
    """What a researcher would write with nnsight: lfe's length-sorted batches, one trace per batch
    saving every layer's MLP neurons mean-pooled over the real tokens, rows gathered in memory.
    (seconds, rows).

    The decoder is traced without its LM head, as lfe runs it: tracing the whole model, as nnsight's
    tutorials do, adds the head's logits (on Gemma's 262,144-token vocabulary, more than the
    decoder).
    """
    import nnsight
    from nnsight import NNsight

    traced = NNsight(model.base_model)
    names = {module: name for name, module in model.base_model.named_modules()}
    points = [_envoy(traced, names[module]) for module in adapter.neuron_modules]
    device = torch.device(settings.device)
    rows = np.empty((len(token_ids), adapter.n_layers * adapter.n_neurons), dtype=np.float32)
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(token_ids), block_rows):
            block = token_ids[start : start + block_rows]
            for batch, input_ids, mask, positions, pooling in padded_batches(
                block, settings.batch_tokens, settings.padding_side, pad
            ):
                weights = pooling.to(device, torch.float32).unsqueeze(-1) / pooling.sum(
                    1, keepdim=True
                ).unsqueeze(-1)
                with traced.trace(
                    input_ids=input_ids.to(device),
                    attention_mask=mask.to(device),
                    position_ids=positions.to(device),
                ):
                    saved = nnsight.save([])  # only what is saved leaves the trace
                    for point in points:  # in the order the forward pass reaches them
                        # [B, T, K]
                        neurons = point.output if adapter.read == "output" else point.input
                        saved.append((neurons.float() * weights).sum(1))  # [B, K]
                rows[[start + i for i in batch]] = torch.cat(list(saved), dim=1).cpu().numpy()
    _sync(settings.device)
    return time.perf_counter() - started, rows


def _envoy(traced, name: str):
    """The nnsight envoy of module ``name`` (``model.layers.3.mlp.down_proj``)."""
    for part in name.split("."):
        traced = traced[int(part)] if part.isdigit() else getattr(traced, part)
    return traced


def naive_extract(model, tokenizer, adapter, texts, device) -> float:
    """The released reference code's way: generate per sentence, .cpu() per layer, a list of
    rows."""
    rows, captured = [], []
    hooks = []
    for module in adapter.neuron_modules:
        if adapter.read == "output":
            hooks.append(
                module.register_forward_hook(
                    lambda m, a, out: captured.append(out[0].float().cpu().numpy())
                )
            )
        else:
            hooks.append(
                module.register_forward_pre_hook(
                    lambda m, a: captured.append(a[0][0].float().cpu().numpy())
                )
            )
    started = time.perf_counter()
    try:
        for text in texts:
            captured.clear()
            inputs = tokenizer(text, add_special_tokens=False, return_tensors="pt").to(device)
            model.generate(
                **inputs,
                max_new_tokens=1,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id or 0,
            )
            rows.append(
                np.concatenate([layer.mean(axis=0) for layer in captured[: adapter.n_layers]])
            )
    finally:
        for hook in hooks:
            hook.remove()
    return time.perf_counter() - started


def vllm_extract(model_dir: str, corpus: Corpus, settings, work: Path, repeats: int) -> dict:
    """lfe's extraction through vLLM, ``repeats`` timed runs after a warm-up, and vLLM's start-up
    timed alone."""
    from dataclasses import replace

    from lfe.models.vllm_engine import MAX_ROWS, VllmLimits, VllmModel, vllm_version

    vllm_settings = replace(settings, backend="vllm")
    runs = []
    for repeat in range(repeats + 1):
        shutil.rmtree(work / "vllm.zarr", ignore_errors=True)
        [report] = extract(
            model_dir, corpus, work / "vllm.zarr", settings=vllm_settings, progress=False
        )
        runs += [report.seconds] if repeat else []
    source = resolve_source(model_dir)
    loaded = load(source, settings.dtype, "cpu")
    starts = []
    for _ in range(2):
        started = time.perf_counter()
        engine = VllmModel(
            source,
            loaded,
            dtype=settings.dtype,
            tensor_parallel=1,
            limits=VllmLimits(longest=512, step_tokens=settings.batch_tokens, max_rows=MAX_ROWS),
        )
        starts.append(time.perf_counter() - started)
        engine.close()
    store = ActivationStore.open(work / "vllm.zarr")
    return {
        "version": vllm_version(),
        "runs_s": runs,
        "start_s": min(starts),
        "rows": store.checkpoint(store.checkpoint_names()[0]).pooled[:],
    }


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


def write_throughput(
    rows: np.ndarray, block_rows: int, n_neurons: int, compression: str, repeats: int = 5
) -> dict:
    """Median bytes/s of writing ``rows`` into a store block by block: lfe's writer
    (``write_block``), Zarr's own ``array[rows] = block`` (the writer before issue 18), and one raw
    file of the same bytes, interleaved."""

    def lfe_writer(checkpoint, norms) -> None:
        for block in range(checkpoint.n_blocks):
            span = checkpoint.block_slice(block)
            checkpoint.write_block(block, rows[span], norms[span])

    def zarr_setitem(checkpoint, norms) -> None:
        for block in range(checkpoint.n_blocks):
            span = checkpoint.block_slice(block)
            checkpoint.pooled[span, :] = rows[span]
            checkpoint.norms[span] = norms[span]
            checkpoint.done[block] = True

    def raw_file(folder) -> None:
        with open(folder / "raw.bin", "wb") as handle:
            handle.write(rows)  # the contiguous rows in one write: no copy made first

    # the engine hands the writer each block's norms, computed on the device: so does this
    norms = np.sqrt(np.einsum("ij,ij->i", rows, rows, dtype=np.float64))
    seconds: dict[str, list[float]] = {"store": [], "zarr": [], "raw": []}
    for _ in range(repeats):
        folder = Path(tempfile.mkdtemp())
        try:
            for name, write in (("raw", None), ("store", lfe_writer), ("zarr", zarr_setitem)):
                checkpoint = (
                    None
                    if write is None
                    else _empty_checkpoint(
                        folder / f"{name}.zarr", rows, block_rows, n_neurons, compression
                    )
                )
                started = time.perf_counter()
                raw_file(folder) if write is None else write(checkpoint, norms)
                seconds[name].append(time.perf_counter() - started)
        finally:
            shutil.rmtree(folder)
    return {name: rows.nbytes / float(np.median(runs)) for name, runs in seconds.items()} | {
        f"{name}_runs_s": runs for name, runs in seconds.items()
    }


def writer_table(args, n_layers: int, n_neurons: int) -> tuple[dict, str]:
    """The writer's speed on ``--write-blocks`` whole blocks (the engine's default size) of random
    rows of the model's width: (results, Markdown table rows), for ``--store-dtype`` and
    ``--compression``."""
    width, block_rows = n_layers * n_neurons, default_block_rows(n_layers * n_neurons)
    shape = (args.write_blocks * block_rows, width)
    rows = (
        np.random.default_rng(0).standard_normal(shape, dtype=np.float32).astype(args.store_dtype)
    )
    rates = write_throughput(rows, block_rows, n_neurons, args.compression)
    what = (
        f"{shape[0]:,} x {width:,} {args.store_dtype} rows ({rows.nbytes / 1e6:,.0f} MB), blocks of"
        f" {block_rows} rows, --compression {args.compression}, median of 5 interleaved"
    )
    lines = "\n".join(
        f"| {label} ({what}) | {rates[name] / rates['raw']:.2f} ({rates[name] / 1e6:,.0f} / "
        f"{rates['raw'] / 1e6:,.0f} MB/s) | {goal} |"
        for label, name, goal in (
            ("store write / raw write", "store", ">= 0.9"),
            ("Zarr's own writes / raw write (before)", "zarr", ""),
        )
    )
    return {"rows": list(rows.shape), "block_rows": block_rows, **rates}, lines


def _empty_checkpoint(
    path: Path, rows: np.ndarray, block_rows: int, n_neurons: int, compression: str
):
    langs, sids, texts = ["x"] * len(rows), [str(i) for i in range(len(rows))], ["t"] * len(rows)
    store = ActivationStore.create(
        path,
        CorpusDescription(fingerprint=rows_fingerprint(langs, sids, texts)),
        langs,
        sids,
        texts,
    )
    meta = CheckpointMeta(
        n_layers=rows.shape[1] // n_neurons,
        n_neurons=n_neurons,
        block_rows=block_rows,
        store_dtype=str(rows.dtype),
        compression=compression,
    )
    return store.create_checkpoint("c", meta, np.ones(len(rows), np.int32))


def _spread(runs: list[float]) -> str:
    return f"{min(runs):.2f}-{max(runs):.2f} s"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            return next(
                line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")
            )
    except (OSError, StopIteration):
        return platform.machine()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=None, help="a model directory; built there (random) if missing"
    )
    parser.add_argument("--size", default="base")
    parser.add_argument("--langs", type=int, default=9)
    parser.add_argument("--sids", type=int, default=20)
    parser.add_argument("--batch-tokens", type=int, default=None)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--store-dtype", default="float32")
    parser.add_argument("--compression", default="zstd")
    parser.add_argument(
        "--stats", default="mean", help="what extraction keeps per sample: mean or mean,positive"
    )
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline (slow)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--write-blocks",
        type=int,
        default=2,
        help="row blocks of the model's width for the writer table",
    )
    parser.add_argument(
        "--write-only", action="store_true", help="only the writer table (no extraction runs)"
    )
    parser.add_argument(
        "--backend",
        default="hf",
        choices=["hf", "vllm"],
        help="vllm: also extract through vLLM and compare it with the transformers engine",
    )
    parser.add_argument("--out", default="benchmarks/out")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp())
    model_dir = args.model or str(work / f"llama-{args.size}")
    if not Path(model_dir, "config.json").exists():
        build_tiny_model("llama", model_dir, size=args.size)
        print(f"built a random llama-like model of size {args.size} in {model_dir}", flush=True)
    corpus = synthetic_corpus(args.langs, args.sids)
    settings = resolved(
        ExtractSettings(
            batch_tokens=args.batch_tokens,
            dtype=args.dtype,
            device=args.device,
            store_dtype=args.store_dtype,
            compression=args.compression,
            stats=tuple(args.stats.split(",")),
        )
    )
    loaded = load(resolve_source(model_dir), args.dtype, args.device)
    model, tokenizer, adapter = loaded.model, loaded.tokenizer, loaded.adapter
    token_ids = tokenize(tokenizer, corpus, settings, model.config).ids
    tokens = sum(len(ids) for ids in token_ids)
    pad = pad_id(tokenizer)
    if args.write_only:
        print(writer_table(args, adapter.n_layers, adapter.n_neurons)[1])
        return

    # Warm up every batch shape once, then alternate engine and bare runs and keep each one's best:
    # these machines are shared and noisy, and the first pass over new shapes pays set-up costs.
    with_nnsight = importlib.util.find_spec("nnsight") is not None
    engine_runs, bare_runs, nnsight_runs = [], [], []
    for repeat in range(args.repeats + 1):
        shutil.rmtree(work / "run.zarr", ignore_errors=True)
        [report] = extract(model_dir, corpus, work / "run.zarr", settings=settings, progress=False)
        checkpoint = ActivationStore.open(work / "run.zarr").checkpoint(report.name)
        bare = bare_forward(model, adapter, token_ids, settings, checkpoint.block_rows, pad)
        if with_nnsight:
            nnsight_seconds, nnsight_rows = nnsight_extract(
                model, adapter, token_ids, settings, checkpoint.block_rows, pad
            )
        if repeat:  # the first round is the warm-up
            engine_runs.append(report.seconds)
            bare_runs.append(bare)
            nnsight_runs += [nnsight_seconds] if with_nnsight else []
    engine_seconds, bare_seconds = min(engine_runs), min(bare_runs)
    # nnsight's rows are float32; the store's may be float16: compare in the store's precision
    nnsight_diff = (
        float(
            np.abs(
                nnsight_rows.astype(args.store_dtype).astype(np.float32)
                - checkpoint.pooled[:].astype(np.float32)
            ).max()
        )
        if with_nnsight
        else float("nan")
    )
    naive_seconds = (
        float("nan")
        if args.no_naive
        else naive_extract(model, tokenizer, adapter, corpus.texts, args.device)
    )
    hf_rows = checkpoint.pooled[:].astype(np.float32)

    embedding = sum(
        p.numel()
        for n, p in model.named_parameters()
        if "embed" in n or "lm_head" in n or "wte" in n or "wpe" in n
    )
    non_embedding = sum(p.numel() for p in model.parameters()) - embedding
    model_flops = 2 * non_embedding * tokens / engine_seconds
    machine_flops = matmul_flops(args.device, TORCH_DTYPES[args.dtype])
    writes, write_lines = writer_table(args, adapter.n_layers, adapter.n_neurons)
    vllm = (
        vllm_extract(model_dir, corpus, settings, work, args.repeats)
        if args.backend == "vllm"
        else None
    )

    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else cpu_name()
    results = {
        "machine": f"{device_name}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "model": (
            f"{model.config.model_type} {args.size}, {adapter.n_layers} x {adapter.n_neurons}"
            f" neurons, {non_embedding / 1e6:.1f} M non-embedding params"
        ),
        "corpus": (
            f"{len(corpus.langs)} languages x {corpus.n_sids} sids = {len(corpus)} samples,"
            f" {tokens} tokens"
        ),
        "settings": settings.to_dict(),
        "engine_runs_s": engine_runs,
        "bare_runs_s": bare_runs,
        "engine_s": engine_seconds,
        "bare_forward_s": bare_seconds,
        "naive_s": naive_seconds,
        "engine_over_bare": engine_seconds / bare_seconds,
        "naive_over_engine": naive_seconds / engine_seconds,
        "engine_tokens_per_s": tokens / engine_seconds,
        "model_flops": model_flops,
        "machine_matmul_flops": machine_flops,
        "flops_fraction": model_flops / machine_flops,
        "writes": writes,
        "nnsight_runs_s": nnsight_runs,
        "lfe_over_nnsight": engine_seconds / min(nnsight_runs, default=float("nan")),
        "nnsight_max_abs_diff": nnsight_diff,
    }
    if vllm is not None:
        vllm_seconds = min(vllm["runs_s"])
        steady = vllm_seconds - vllm["start_s"]
        cosine = np.einsum("ij,ij->i", vllm["rows"], hf_rows) / (
            np.linalg.norm(vllm["rows"], axis=1) * np.linalg.norm(hf_rows, axis=1)
        )
        results["vllm"] = {
            "version": vllm["version"],
            "runs_s": vllm["runs_s"],
            "start_s": vllm["start_s"],
            "vllm_over_engine": vllm_seconds / engine_seconds,
            "steady_over_engine": steady / engine_seconds,
            "steady_over_bare": steady / bare_seconds,
            "min_row_cosine": float(cosine.min()),
            "max_rel_diff": float(
                (
                    np.linalg.norm(vllm["rows"] - hf_rows, axis=1) / np.linalg.norm(hf_rows, axis=1)
                ).max()
            ),
        }
    Path(args.out).mkdir(parents=True, exist_ok=True)
    stats = args.stats.replace(",", "+")
    tag = (
        f"{args.device.replace(':', '')}-{args.size}-{args.dtype}-{args.store_dtype}-"
        f"{args.compression}-{stats}" + ("-vllm" if vllm is not None else "")
    )
    (Path(args.out) / f"extract-{tag}.json").write_text(json.dumps(results, indent=2))
    print(f"machine: {results['machine']}\nmodel: {results['model']}\ncorpus: {results['corpus']}")
    print(f"settings: {', '.join(f'{k}={v}' for k, v in settings.to_dict().items())}\n")
    print("| measure | value | goal |\n|---|---|---|")
    print(
        f"| engine / bare forward | {results['engine_over_bare']:.3f} (best of {args.repeats}:"
        f" {engine_seconds:.2f} s / {bare_seconds:.2f} s; all runs {_spread(engine_runs)} /"
        f" {_spread(bare_runs)}) | <= 1.05 |"
    )
    print(
        f"| naive / engine | {results['naive_over_engine']:.2f} ({naive_seconds:.2f} s /"
        f" {engine_seconds:.2f} s) | >= 2.5 |"
    )
    print(
        f"| model FLOP/s / matmul FLOP/s | {results['flops_fraction']:.2f} ({model_flops / 1e9:.1f}"
        f" / {machine_flops / 1e9:.1f} GFLOP/s) | >= 0.75 |"
    )
    if with_nnsight:
        print(
            "| lfe / nnsight (same batches, pooled rows in memory; lfe also writes its store) |"
            f" {results['lfe_over_nnsight']:.3f} ({engine_seconds:.2f} s / {min(nnsight_runs):.2f}"
            f" s; all nnsight runs {_spread(nnsight_runs)}); rows equal to {nnsight_diff:.1e} | <="
            " 1.0 |"
        )
    else:
        print(
            "| lfe / nnsight | not measured: nnsight is not installed (pip install 'lfe[bench]') |"
            " <= 1.0 |"
        )
    print(
        f"| engine throughput | {tokens / engine_seconds:,.0f} tokens/s,"
        f" {len(corpus) / engine_seconds:.1f} samples/s | |"
    )
    if vllm is not None:
        found = results["vllm"]
        print(
            f"| vLLM {found['version']} / engine (vLLM's start-up included) |"
            f" {found['vllm_over_engine']:.2f} ({min(found['runs_s']):.2f} s / {engine_seconds:.2f}"
            f" s; all vLLM runs {_spread(found['runs_s'])}) | |"
        )
        print(
            f"| vLLM without its start-up ({found['start_s']:.1f} s) / engine; / bare forward | "
            f"{found['steady_over_engine']:.2f}; {found['steady_over_bare']:.2f} | |"
        )
        print(
            f"| vLLM rows against the engine's | min cosine {found['min_row_cosine']:.7f}, max"
            f" relative difference {found['max_rel_diff']:.1e} | |"
        )
    print(write_lines)
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
