"""``lfe analyze`` as a library call: store in, results into the store and a folder of files out.

Wires the layers together and adds nothing of its own: the store hands over lazy arrays and labels,
``lfe.analysis`` computes, the store keeps the results with their parameters, and ``lfe.plots``
draws them.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from lfe.analysis import AnalysisResult, analyze
from lfe.errors import StoreError
from lfe.store import ActivationStore


def default_out(store: str | Path) -> Path:
    store = Path(store)
    return store.with_name(store.name.removesuffix(".zarr") + "-analysis")


def analyze_store(
    store: str | Path, checkpoint: str | list[str] = "all", threshold: float | None = 2.0, top_percent: float | None = None,
    out: str | Path | None = None, n_boot: int = 200, seed: int = 0, figures: bool = True, progress: bool = True,
    device: str = "cpu",
) -> dict[str, AnalysisResult]:
    """Analyse checkpoints of ``store`` (a name, a list, or ``"all"``); write results to the store and to ``out``."""
    opened = ActivationStore.open(store, mode="r+")
    names = _names(opened, checkpoint)
    out = Path(out) if out is not None else default_out(store)
    langs, sids = opened.labels()
    panels_math = None  # numpy on the CPU
    if device != "cpu":  # the Gram and the grouped statistics kernel on a GPU; torch is imported only here
        from lfe.kernels.panels import TorchPanels

        panels_math = TorchPanels(device)
    results = {}
    for name in names:
        data = opened.checkpoint(name)
        if not data.complete:
            raise StoreError(
                f"checkpoint {name!r} is incomplete ({int(data.done[:].sum())}/{data.n_blocks} blocks): "
                f"rerun the same `lfe extract` command to finish it"
            )
        result = analyze(data.as_dask(), langs, sids, data.n_layers, data.n_neurons, threshold=threshold,
                         top_percent=top_percent, n_boot=n_boot, seed=seed, progress=progress, norms=data.norms[:],
                         panels_math=panels_math)
        metrics = {
            **result.metrics(),
            "checkpoint": name,
            "corpus_fingerprint": opened.corpus["fingerprint"],
            "weights_hash": data.meta.get("weights_hash"),
            "source": data.meta.get("source"),
            "family": data.meta.get("family"),
            "store_dtype": data.meta.get("store_dtype"),
            "pooling": data.meta.get("pooling"),
        }
        opened.write_analysis(name, {
            "similarity": result.similarity,
            "zscores": result.zscores,
            "regions": result.regions,
            "key_neurons_per_layer": result.counts,
        }, metrics)
        write_files(result, metrics, out / name, figures)
        results[name] = result
    return results


def analyze_on_cluster(client, store: str | Path, checkpoint: str | list[str] = "all", **options) -> dict[str, dict]:
    """``analyze_store`` with one task per checkpoint on a Dask cluster; each checkpoint's metrics.

    Only the metrics come back to this process, so its memory does not grow with the checkpoints.
    """
    from distributed import as_completed

    opened = ActivationStore.open(store, mode="r+")
    names = _names(opened, checkpoint)
    opened.group.require_group("analysis")  # created once here, not raced by the tasks
    options = {**options, "progress": False}
    futures = [client.submit(_metrics_of_one, str(store), name, options, pure=False) for name in names]
    results = {}
    for future in as_completed(futures):
        name, metrics = future.result()
        results[name] = metrics
    return {name: results[name] for name in names}


def _names(opened: ActivationStore, checkpoint: str | list[str]) -> list[str]:
    names = opened.checkpoint_names() if checkpoint == "all" else [checkpoint] if isinstance(checkpoint, str) else checkpoint
    if not names:
        raise StoreError(f"{opened.path} holds no checkpoint yet; run `lfe extract` first")
    return list(names)


def _metrics_of_one(store: str, name: str, options: dict) -> tuple[str, dict]:
    [result] = analyze_store(store, name, **options).values()
    return name, {**result.metrics(), "n_layers": result.n_layers, "n_neurons": result.n_neurons}


def write_files(result: AnalysisResult, metrics: dict, folder: Path, figures: bool = True) -> Path:
    """metrics.json, CSV tables, report.md and (unless ``figures`` is False) the PNG figures, in ``folder``."""
    from lfe import plots
    from lfe.report import markdown_report

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    interval_keys = [key for key in result.layers[0] if key != "layer"]
    _csv(folder / "layers.csv", ["layer", *interval_keys], [[layer[k] for k in ["layer", *interval_keys]]
                                                           for layer in result.layers])
    total = result.n_layers * result.n_neurons
    _csv(folder / "regions.csv", ["lang", "key_neurons", "percent"],
         [[lang, size, 100 * size / total] for lang, size in result.region_sizes.items()])
    _csv(folder / "key_neurons_per_layer.csv", ["lang", *[f"layer_{m}" for m in range(result.n_layers)]],
         [[lang, *result.counts[i].tolist()] for i, lang in enumerate(result.langs)])
    _csv(folder / "overlap.csv", ["lang", *result.langs],
         [[lang, *result.overlap[i].tolist()] for i, lang in enumerate(result.langs)])
    if figures:
        for filename, draw in plots.ALL.items():
            draw(result, folder / filename, prefix=metrics.get("checkpoint", ""))
    (folder / "report.md").write_text(markdown_report(result, metrics, figures), encoding="utf-8")
    return folder


def _csv(path: Path, header: list, rows: list) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
