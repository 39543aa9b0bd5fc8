"""``lfe evolve`` as a library call: every checkpoint of one or more stores, against step or size.

Reuses each checkpoint's stored analysis when it was made with the same parameters and weights
(else analyses it, on a Dask cluster when given one), adds the stored ablation tables where present,
and writes one table (CSV, JSON, Markdown) and the evolution figures.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from lfe.analysis.evolution import by_series, duplicates, layer_center, own_region_increase, spearman, step_from_name
from lfe.analyze import analyze_on_cluster, analyze_store
from lfe.errors import LfeError, StoreError
from lfe.store import ActivationStore

AXES = ("step", "params")
TRENDS = ("lrds", "sads", "sklr_percent", "key_layer_center")


def evolve(
    stores: list[str | Path], x: str = "step", out: str | Path | None = None, steps: dict[str, int] | None = None,
    threshold: float | None = 2.0, top_percent: float | None = None, n_boot: int = 200, seed: int = 0,
    client=None, figures: bool = True, progress: bool = True, say=print,
) -> list[dict]:
    """One row per checkpoint (sorted by series, then ``x``); files into ``out``."""
    if x not in AXES:
        raise LfeError(f"--x {x!r} is not one of {', '.join(AXES)}")
    if not stores:
        raise LfeError("pass at least one store")
    steps = steps or {}
    options = dict(threshold=threshold, top_percent=top_percent, n_boot=n_boot, seed=seed)
    rows = []
    for store in stores:
        opened = ActivationStore.open(store)
        names = opened.checkpoint_names()
        if not names:
            raise StoreError(f"{store} holds no checkpoint yet; run `lfe extract` first")
        stale = [name for name in names if not _analysis_is_current(opened, name, options)]
        if stale:
            say(f"{store}: analysing {len(stale)} of {len(names)} checkpoints (the others are reused)")
            if client is not None:
                analyze_on_cluster(client, store, stale, figures=figures, **options)
            else:
                for name in stale:  # one at a time: only the metrics, kept in the store, outlive each
                    analyze_store(store, name, figures=figures, progress=progress, **options)
            opened = ActivationStore.open(store)
        rows += [_row(opened, name, steps, len(stores) > 1) for name in names]
    _check_axis(rows, x)
    rows.sort(key=lambda row: (row["series"], row[x], row["checkpoint"]))
    for row, first in zip(rows, duplicates([row["weights_hash"] for row in rows])):
        row["duplicate_of"] = None if first is None else f"{rows[first]['store']}:{rows[first]['checkpoint']}"
        if first is not None:
            say(f"warning: {row['checkpoint']} has the same weights as {row['duplicate_of']} (a duplicate checkpoint)")
    first = Path(stores[0])
    out = Path(out) if out is not None else first.with_name(first.name.removesuffix(".zarr") + "-evolution")
    write_evolution(rows, x, out, {**options, "x": x, "stores": [str(s) for s in stores]}, figures)
    return rows


def _analysis_is_current(opened: ActivationStore, name: str, options: dict) -> bool:
    try:
        metrics = dict(opened.analysis(name).attrs["lfe"])
    except StoreError:
        return False
    # as analyze records them: no threshold when key regions are a top percent
    wanted = {**options, "threshold": None if options["top_percent"] is not None else options["threshold"]}
    same = all(metrics["params"].get(key) == value for key, value in wanted.items())
    return same and metrics.get("weights_hash") == opened.checkpoint(name).meta.get("weights_hash")


def _row(opened: ActivationStore, name: str, steps: dict[str, int], several_stores: bool) -> dict:
    meta = opened.checkpoint(name).meta
    metrics = dict(opened.analysis(name).attrs["lfe"])
    whole = metrics["whole"]
    series = meta.get("series") or opened.path.name.removesuffix(".zarr")
    step = steps.get(name, meta.get("step"))
    row = {
        "store": str(opened.path), "series": f"{opened.path.name.removesuffix('.zarr')}:{series}" if several_stores
        else series, "checkpoint": name, "step": step if step is not None else step_from_name(name),
        "params": meta.get("n_params"), "weights_hash": meta.get("weights_hash"),
        **{key: whole.get(key) for key in ("lrds", "lrds_low", "lrds_high", "sads", "sads_low", "sads_high")},
        "sklr": metrics["sklr"], "sklr_percent": metrics["sklr_percent"],
        "key_layer_center": layer_center(list(metrics["key_neurons_per_layer"].values())),
        "region_percent": metrics["region_percent"], "key_neurons_per_layer": metrics["key_neurons_per_layer"],
        "languages": metrics["languages"], "analysis_params": metrics["params"],
    }
    ablation = opened.record("ablation", name)
    if ablation is not None:
        increase = ablation["increase_percent"]
        twins = [value for lang, cells in increase.items() for region, value in cells.items() if region.endswith(f"~{lang}")]
        row["own_region_increase"] = own_region_increase(increase)
        row["random_twin_increase"] = sum(twins) / len(twins) if twins else None
        row["ablation_params"] = ablation["params"]
        if "choice_accuracy" in ablation:
            accuracy = ablation["choice_accuracy"]
            row["choice_accuracy_full"] = sum(cells["full"] for cells in accuracy.values()) / len(accuracy)
    return row


def _check_axis(rows: list[dict], x: str) -> None:
    unknown = [row["checkpoint"] for row in rows if row[x] is None]
    if not unknown:
        return
    if x == "step":
        raise LfeError(f"cannot tell the training step of {', '.join(unknown)} from its name or files; "
                       f"pass --step {unknown[0]}=N for each")
    raise LfeError(f"the store does not record the parameter count of {', '.join(unknown)} (extracted by an older "
                   "lfe); extract them again with --overwrite, or use --x step")


def trends(rows: list[dict], x: str) -> dict[str, dict[str, float]]:
    """Per series, Spearman's rank correlation of each measure with ``x`` (+1: grows throughout)."""
    return {name: {key: spearman([row[x] for row in series], [row[key] for row in series]) for key in TRENDS}
            for name, series in by_series(rows).items()}


def write_evolution(rows: list[dict], x: str, out: Path, params: dict, figures: bool) -> Path:
    from lfe import plots

    out.mkdir(parents=True, exist_ok=True)
    found = trends(rows, x)
    (out / "evolution.json").write_text(json.dumps({"params": params, "trends": found, "rows": rows}, indent=2))
    langs = sorted({lang for row in rows for lang in row["region_percent"]})
    columns = ["series", "checkpoint", "step", "params", "lrds", "lrds_low", "lrds_high", "sads", "sads_low",
               "sads_high", "sklr", "sklr_percent", "key_layer_center", "own_region_increase",
               "random_twin_increase", "choice_accuracy_full", "duplicate_of", "weights_hash"]
    with open(out / "evolution.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns + [f"region_percent_{lang}" for lang in langs])
        for row in rows:
            writer.writerow([row.get(key) for key in columns] + [row["region_percent"].get(lang) for lang in langs])
    lines = [f"# Evolution against {'the training step' if x == 'step' else 'the parameter count'}", "",
             f"Key neurons: {'top ' + str(params['top_percent']) + '%' if params['top_percent'] else 'z > ' + str(params['threshold'])}; "
             f"{params['n_boot']} bootstrap resamples (seed {params['seed']}) for the 95% intervals.", "",
             f"| series | checkpoint | {x} | LRDS | SADS | SKLR % | key-neuron depth (0 first, 1 last) | own-region PPL increase % |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        own = row.get("own_region_increase")
        lines.append(f"| {row['series']} | {row['checkpoint']}{' (duplicate)' if row['duplicate_of'] else ''} | "
                     f"{row[x]} | {row['lrds']:.4f} | {row['sads']:.4f} | {row['sklr_percent']:.2f} | "
                     f"{row['key_layer_center']:.3f} | {'' if own is None else f'{own:.0f}'} |")
    lines += ["", "Spearman rank correlation with the x axis (+1: rises throughout, -1: falls throughout):", "",
              "| series | " + " | ".join(TRENDS) + " |", "|---|" + "---|" * len(TRENDS)]
    lines += [f"| {name} | " + " | ".join(f"{value:+.2f}" for value in values.values()) + " |"
              for name, values in found.items()]
    if figures:
        drawn = {"evolution_alignment.png": plots.evolution_alignment, "evolution_regions.png": plots.evolution_regions,
                 "evolution_layers.png": plots.evolution_layers}
        if any(row.get("own_region_increase") is not None for row in rows):
            drawn["evolution_ablation.png"] = plots.evolution_ablation
        lines.append("")
        for filename, draw in drawn.items():
            draw(rows, x, out / filename)
            lines.append(f"![{filename}]({filename})")
    (out / "evolution.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out
