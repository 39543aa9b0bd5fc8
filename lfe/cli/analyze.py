"""``lfe analyze``: similarity maps, LRDS and SADS, key linguistic regions of a store."""

from __future__ import annotations

from typing import Any

import click

from lfe.cli.options import (
    PathValue,
    analysis_options,
    cluster_options,
    friendly_errors,
    method_options,
    output_options,
)
from lfe.records import AnalysisSettings


@click.command()
@friendly_errors
@click.argument("store", type=PathValue())
@click.option("--checkpoint", default="all", show_default=True, help="A checkpoint's name, or all.")
@analysis_options
@method_options
@click.option(
    "--out",
    type=PathValue(),
    default=None,
    help="Folder for metrics, CSV and PNG [default: STORE-analysis].",
)
@output_options
@click.option(
    "--device",
    default="cpu",
    show_default=True,
    help="cuda: the Gram and the per-language sums on a GPU (Triton kernel); cpu: numpy.",
)
@cluster_options
def analyze(
    store: str,
    checkpoint: str,
    settings: AnalysisSettings,
    out: str | None,
    figures: bool,
    progress: bool,
    device: str,
    scheduler: str | None,
    workers: int | None,
) -> None:
    """Compute the paper's measures for STORE's checkpoints; write them into the store and into
    --out.

    \b
    Example:
        lfe analyze run.zarr --threshold 2 --out results/
        lfe analyze run.zarr --method all      # the paper's, LAPE's and AP's neurons, compared
    """
    from lfe.workflows.analyze import analyze_on_cluster, analyze_store
    from lfe.workflows.cluster import cluster
    from lfe.workflows.paths import beside

    options: dict[str, Any] = dict(settings=settings, out=out, figures=figures, device=device)
    with cluster(scheduler, workers) as client:
        if client is None:
            records = analyze_store(store, checkpoint, progress=progress, **options)
        else:
            records = analyze_on_cluster(client, store, checkpoint, **options)
    folder = out or beside(store, "analysis")
    for name, record in records.items():
        peers = "".join(
            f", {method} {sum(found.region_sizes.values())} neurons"
            for method, found in record.methods.items()
        )
        click.echo(
            f"{name}: {record.whole.summary(3)}, SKLR {record.sklr} neurons"
            f" ({record.sklr_percent:.2f}%){peers} -> {folder}/{name}"
        )
