"""Many checkpoints: analysis time and memory per checkpoint at 10 and 100, and 2 Dask workers
against 1.

On synthetic float16 stores of a realistic width (default 9 languages x 50 sids, 18 layers x 2,048
neurons: Gemma-3-270M's shape), in one run:

1. `lfe evolve` (analysis of every checkpoint, then the table; 20 bootstrap resamples, no figures)
   on a store of 10 checkpoints and on one of 100: seconds per checkpoint and peak traced memory
   (tracemalloc; numpy buffers included). Goal: within 1.2 of each other; memory flat.
2. `lfe analyze --workers N` of the 10 checkpoints on a local Dask cluster of 1 worker process
   (2 threads) and of 2 (1 thread each), cluster start excluded. Goal: 2 workers >= 1.6 x faster.

    python benchmarks/bench_evolve.py [--checkpoints 10,100] [--sids 50] [--layers 18] [--neurons
    2048]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_analyze import synthetic_store  # noqa: E402
from bench_extract import cpu_name  # noqa: E402
from lfe.records import AnalysisSettings, EvolutionSettings  # noqa: E402
from lfe.workflows.analyze import analyze_on_cluster  # noqa: E402
from lfe.workflows.cluster import cluster  # noqa: E402
from lfe.workflows.evolve import evolve  # noqa: E402

ANALYSIS = AnalysisSettings(threshold=2.0, n_boot=20, seed=0)


def _evolve(store, out: Path, analysis: AnalysisSettings = ANALYSIS) -> None:
    evolve(
        EvolutionSettings(stores=(str(store),), analysis=analysis),
        out=out,
        figures=False,
        progress=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", default="10,100")
    parser.add_argument("--langs", type=int, default=9)
    parser.add_argument("--sids", type=int, default=50)
    parser.add_argument("--layers", type=int, default=18)
    parser.add_argument("--neurons", type=int, default=2048)
    args = parser.parse_args()
    counts = [int(c) for c in args.checkpoints.split(",")]
    work = Path(tempfile.mkdtemp(prefix="lfe-bench-evolve-"))
    print(
        f"machine: {cpu_name()}; rows {args.langs * args.sids}, width {args.layers} x"
        f" {args.neurons}, float16, {ANALYSIS.n_boot} bootstrap resamples, no figures\n"
    )
    try:
        stores = {}
        for count in counts:
            started = time.perf_counter()
            stores[count] = synthetic_store(
                work / f"run{count}.zarr",
                args.langs,
                args.sids,
                args.layers,
                args.neurons,
                names=tuple(f"step{i}" for i in range(count)),
            ).path
            print(f"built {count} checkpoints in {time.perf_counter() - started:.0f} s", flush=True)
        print(
            "\n| checkpoints | seconds | seconds per checkpoint | peak traced memory"
            " |\n|---|---|---|---|"
        )
        per_checkpoint = {}
        # warm-up (imports, first allocations); other parameters, so the timed runs analyse afresh
        _evolve(stores[counts[0]], work / "warm", AnalysisSettings(n_boot=0))
        for count, store in stores.items():
            tracemalloc.start()
            started = time.perf_counter()
            _evolve(store, work / f"evo{count}")
            seconds = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            per_checkpoint[count] = seconds / count
            print(
                f"| {count} | {seconds:.1f} | {seconds / count:.3f} | {peak / 1e6:.0f} MB |",
                flush=True,
            )
        if len(counts) > 1:
            ratio = per_checkpoint[counts[-1]] / per_checkpoint[counts[0]]
            print(
                f"\nper-checkpoint time, {counts[-1]} / {counts[0]} checkpoints: {ratio:.2f} (goal"
                " <= 1.2)"
            )

        few = stores[counts[0]]
        times = {}
        for workers in (1, 2):
            with cluster(workers=workers) as client:
                client.submit(sum, [1]).result()  # workers up before the clock starts
                started = time.perf_counter()
                analyze_on_cluster(
                    client, few, settings=ANALYSIS, figures=False, out=work / f"cluster{workers}"
                )
                times[workers] = time.perf_counter() - started
            print(
                f"analyze {counts[0]} checkpoints on {workers} worker process(es):"
                f" {times[workers]:.1f} s",
                flush=True,
            )
        print(f"2 workers / 1 worker speed-up: {times[1] / times[2]:.2f} (goal >= 1.6)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
