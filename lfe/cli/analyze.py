"""``lfe analyze``: similarity maps, LRDS and SADS, key linguistic regions of a store."""

from __future__ import annotations

import click

from lfe.cli._errors import friendly_errors


@click.command()
@click.argument("store", type=click.Path())
@click.option("--checkpoint", default="all", show_default=True, help="A checkpoint's name, or all.")
@click.option("--threshold", type=float, default=2.0, show_default=True, help="Key neurons have z above this.")
@click.option("--top-percent", type=float, default=None, help="Instead: each language's top P percent by z.")
@click.option("--out", type=click.Path(), default=None, help="Folder for metrics, CSV and PNG [default: STORE-analysis].")
@click.option("--bootstrap", "n_boot", type=int, default=200, show_default=True,
              help="Bootstrap resamples over sids for the intervals (0: none).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--no-figures", is_flag=True, help="Numbers only.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--device", default="cpu", show_default=True,
              help="cuda: the Gram and the per-language sums on a GPU (Triton kernel); cpu: numpy.")
@click.option("--scheduler", default=None, help="Run one task per checkpoint on this Dask scheduler (tcp://HOST:PORT).")
@click.option("--workers", type=int, default=None, help="Run one task per checkpoint on N local worker processes.")
@friendly_errors
def analyze(store, checkpoint, threshold, top_percent, out, n_boot, seed, no_figures, quiet, device, scheduler,
            workers):
    """Compute the paper's measures for STORE's checkpoints; write them into the store and into --out.

    \b
    Example:
        lfe analyze run.zarr --threshold 2 --out results/
    """
    from lfe.analyze import analyze_on_cluster, analyze_store, default_out
    from lfe.cluster import cluster

    options = dict(threshold=threshold, top_percent=top_percent, out=out, n_boot=n_boot, seed=seed,
                   figures=not no_figures, progress=not quiet, device=device)
    with cluster(scheduler, workers) as client:
        if client is None:
            results = {name: result.metrics() for name, result in analyze_store(store, checkpoint, **options).items()}
        else:
            results = analyze_on_cluster(client, store, checkpoint, **options)
    folder = out or default_out(store)
    for name, metrics in results.items():
        whole = metrics["whole"]
        interval = (lambda key: f" [{whole[f'{key}_low']:.3f}, {whole[f'{key}_high']:.3f}]" if f"{key}_low" in whole else "")
        click.echo(f"{name}: LRDS {whole['lrds']:.4f}{interval('lrds')}, SADS {whole['sads']:.4f}{interval('sads')}, "
                   f"SKLR {metrics['sklr']} neurons ({metrics['sklr_percent']:.2f}%) -> {folder}/{name}")
