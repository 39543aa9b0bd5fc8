"""`lfe analyze` against the paper's released analysis code, at BLOOM-7b1's width.

The paper's code (X-LANCE/LinguaFranca, ``run.py``) is read from the user's checkout, not copied
into lfe (it carries no licence): its functions are taken from ``run.py`` as released and run on
the same rows in memory as float32 (what its extraction hands them): the whole model's and every
layer's similarity map with LRDS and SADS (``show_cos_sim`` by language and by meaning), and the
key neurons (``find_max_average_neurons`` per language, then ``zscore_outliers``). Its plotting is
replaced by a no-op, as lfe runs without figures.

On a synthetic float16 store (default 900 rows = 9 languages x 100 sids, 30 layers x 16,384
neurons: BLOOM-7b1's MLP), in one run:

1. the I/O floor: every byte of one checkpoint read (and decompressed) once;
2. one in-memory numpy float32 Gram ``X @ X.T`` of the same rows (converted before the clock);
3. ``lfe analyze`` doing the paper's work (no bootstrap, no null; best of two), the same analysis
   with numpy's own float16 conversion (lfe before ``CpuPanels``), and with lfe's defaults (200
   bootstrap resamples, the permutation nulls), peak traced memory of each;
4. the paper's code on the rows in memory, its peak traced memory plus the rows themselves;
5. ``lfe evolve`` over all the checkpoints (analysed one at a time), time per checkpoint.

    git clone https://github.com/X-LANCE/LinguaFranca /tmp/LinguaFranca
    python benchmarks/bench_paper_code.py --paper-code /tmp/LinguaFranca [--checkpoints 3]
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_analyze import synthetic_store  # noqa: E402
from bench_extract import cpu_name  # noqa: E402
from lfe.analysis.streaming import NumpyPanels  # noqa: E402
from lfe.records import AnalysisSettings, EvolutionSettings  # noqa: E402
from lfe.workflows.analyze import analyze_store  # noqa: E402
from lfe.workflows.evolve import evolve  # noqa: E402

PAPER_FUNCTIONS = (
    "similarity_by_block",
    "compare_similarity_diagnal",
    "rearrange_by_meaning",
    "show_cos_sim",
    "find_max_average_neurons",
    "zscore_outliers",
)


class _NoPlot:
    """Stands in for matplotlib.pyplot and seaborn: every call does nothing."""

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None


def paper_code(checkout: Path) -> SimpleNamespace:
    """The analysis functions of the paper's ``run.py``, as released, without its imports."""
    from sklearn.metrics.pairwise import cosine_similarity
    from tqdm import tqdm

    source = (checkout / "run.py").read_text(encoding="utf-8")
    wanted = [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef) and node.name in PAPER_FUNCTIONS
    ]
    missing = set(PAPER_FUNCTIONS) - {node.name for node in wanted}
    if missing:
        raise SystemExit(f"{checkout / 'run.py'} lacks {', '.join(sorted(missing))}")
    namespace = {
        "np": np,
        "cosine_similarity": cosine_similarity,
        "tqdm": lambda iterable, **_: iterable,  # no bar: lfe runs with --quiet
        "plt": _NoPlot(),
        "sns": _NoPlot(),
        "os": __import__("os"),
        "csv": __import__("csv"),
        "pickle": __import__("pickle"),
    }
    del tqdm
    exec(
        compile(ast.Module(body=wanted, type_ignores=[]), str(checkout / "run.py"), "exec"),
        namespace,
    )
    return SimpleNamespace(**{name: namespace[name] for name in PAPER_FUNCTIONS})


def run_paper_code(
    paper: SimpleNamespace, rows: np.ndarray, n_langs: int, n_sids: int, n_layers: int
) -> np.ndarray:
    """The paper's ``run.py`` main analysis on ``rows`` [langs x sids, layers x neurons]: the
    similarity maps with LRDS and SADS (whole model and per layer), then the key neurons."""
    width = rows.shape[1] // n_layers
    paper.show_cos_sim(rows, "whole", block_size=n_sids)
    paper.show_cos_sim(rows, "whole", by_meaning=True, block_size=n_langs, sample_num=n_sids)
    for layer in range(n_layers):
        panel = rows[:, layer * width : (layer + 1) * width]
        paper.show_cos_sim(panel, f"layer {layer}", block_size=n_sids)
        paper.show_cos_sim(
            panel, f"layer {layer}", by_meaning=True, block_size=n_langs, sample_num=n_sids
        )
    scores = np.stack(
        [
            paper.find_max_average_neurons(
                hs_path=rows,
                mask=(lang * n_sids, (lang + 1) * n_sids),
                model_layer_num=n_layers,
                return_scores=True,
            )
            for lang in range(n_langs)
        ],
        axis=-1,
    )
    return paper.zscore_outliers(scores, threshold=2)


def numpy_conversion(store: Path, settings: AnalysisSettings, checkpoint: str) -> None:
    """``analyze_store`` as lfe ran it before ``CpuPanels``: numpy's own float16 conversion."""
    import lfe.kernels.panels as panels

    chosen = panels.CpuPanels
    panels.CpuPanels = NumpyPanels  # what analyze_store picks for the CPU
    try:
        analyze_store(store, checkpoint, settings=settings, figures=False, progress=False)
    finally:
        panels.CpuPanels = chosen


def timed(call, *args, **kwargs) -> tuple[float, int, object]:
    """(seconds, peak traced bytes, result) of one call."""
    tracemalloc.start()
    started = time.perf_counter()
    result = call(*args, **kwargs)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--paper-code", required=True, type=Path, help="a checkout of X-LANCE/LinguaFranca"
    )
    parser.add_argument("--langs", type=int, default=9)
    parser.add_argument("--sids", type=int, default=100)
    parser.add_argument("--layers", type=int, default=30)
    parser.add_argument("--neurons", type=int, default=16384)
    parser.add_argument("--checkpoints", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/out")
    args = parser.parse_args()
    paper = paper_code(args.paper_code)

    work = Path(tempfile.mkdtemp())
    names = tuple(f"step{index}" for index in range(args.checkpoints))
    started = time.perf_counter()
    store = synthetic_store(
        work / "run.zarr", args.langs, args.sids, args.layers, args.neurons, names=names
    )
    checkpoint = store.checkpoint(names[0])
    n, width = checkpoint.pooled.shape
    built = time.perf_counter() - started
    print(f"built {len(names)} checkpoints of {n} x {width} float16 in {built:.0f} s", flush=True)

    read_s, _, stored = timed(lambda: checkpoint.pooled[:])
    rows = np.asarray(stored, dtype=np.float32)
    del stored
    gram_s, _, _ = timed(np.matmul, rows, rows.T)
    print(f"I/O floor {read_s:.1f} s, Gram {gram_s:.1f} s", flush=True)

    paper_work = AnalysisSettings(threshold=2.0, n_boot=0, null=0)
    options = dict(checkpoint=names[0], figures=False, progress=False)
    runs = [
        timed(analyze_store, work / "run.zarr", settings=paper_work, **options) for _ in range(2)
    ]  # best of two: the machine is shared and noisy
    lfe_s, lfe_peak, analysed = min(runs, key=lambda run: run[0])
    print(f"lfe analyze (the paper's work) {lfe_s:.1f} s", flush=True)
    numpy_s = min(
        timed(numpy_conversion, work / "run.zarr", paper_work, names[0])[0] for _ in range(2)
    )
    print(f"the same with numpy's float16 conversion {numpy_s:.1f} s", flush=True)
    default_s, default_peak, _ = timed(
        analyze_store, work / "run.zarr", settings=AnalysisSettings(), **options
    )
    print(f"lfe analyze (defaults) {default_s:.1f} s", flush=True)
    with contextlib.redirect_stdout(io.StringIO()):  # its prints of every score
        paper_s, paper_peak, outliers = timed(
            run_paper_code, paper, rows, args.langs, args.sids, args.layers
        )
    print(f"the paper's code {paper_s:.1f} s", flush=True)
    record = analysed[names[0]]
    paper_key = int(np.asarray(outliers).sum())
    rows_bytes = rows.nbytes
    del rows

    evolve_s, evolve_peak, evolved = timed(
        evolve,
        EvolutionSettings(
            stores=(str(work / "run.zarr"),),
            analysis=AnalysisSettings(threshold=2.0, n_boot=0, null=0, seed=1),
        ),
        out=work / "evolution",
        figures=False,
        progress=False,
    )
    results = {
        "machine": cpu_name(),
        "store": (
            f"{n} x {width} float16 ({args.layers} layers x {args.neurons} neurons), chunks"
            f" {checkpoint.pooled.chunks}"
        ),
        "io_floor_s": read_s,
        "gram_s": gram_s,
        "lfe_paper_work_s": lfe_s,
        "lfe_paper_work_peak_MB": lfe_peak / 1e6,
        "lfe_numpy_conversion_s": numpy_s,
        "lfe_defaults_s": default_s,
        "lfe_defaults_peak_MB": default_peak / 1e6,
        "paper_code_s": paper_s,
        "paper_code_peak_MB": (paper_peak + rows_bytes) / 1e6,
        "evolve_checkpoints": len(evolved),
        "evolve_s_per_checkpoint": evolve_s / len(evolved),
        "evolve_peak_MB": evolve_peak / 1e6,
        "lfe_key_neurons": record.sklr,
        "paper_key_neurons": paper_key,
    }
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "paper_code.json").write_text(json.dumps(results, indent=2))
    print(f"\nmachine: {results['machine']}\nstore: {results['store']}\n")
    per_checkpoint = evolve_s / len(evolved)
    table = [
        (
            "lfe analyze / the paper's code (the same work)",
            lfe_s / paper_s,
            f"{lfe_s:.1f} s / {paper_s:.1f} s",
        ),
        ("lfe analyze / I/O floor (the checkpoint read once)", lfe_s / read_s, f"{read_s:.1f} s"),
        (
            "lfe analyze / the same with numpy's float16 conversion (before)",
            lfe_s / numpy_s,
            f"{numpy_s:.1f} s",
        ),
        ("lfe analyze / in-memory float32 Gram", lfe_s / gram_s, f"{gram_s:.1f} s"),
        (
            "lfe analyze with its defaults (bootstrap, nulls) / the paper's code",
            default_s / paper_s,
            f"{default_s:.1f} s",
        ),
        (f"lfe evolve, seconds per checkpoint ({len(evolved)})", per_checkpoint, ""),
    ]
    print("| measure | value | |\n|---|---|---|")
    for measure, value, detail in table:
        print(f"| {measure} | {value:.3f} | {detail} |")
    peaks = [lfe_peak, default_peak, evolve_peak, paper_peak + rows_bytes]
    print(
        "| peak memory, MB: lfe analyze / its defaults / lfe evolve / the paper's code (rows"
        " included) | " + " / ".join(f"{peak / 1e6:.0f}" for peak in peaks) + " | |"
    )
    print(f"| key neurons (z > 2): lfe / the paper's code | {record.sklr} / {paper_key} | |")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
