"""``lfe evolve``: the paper's measures across checkpoints and model sizes, as a table and figures."""

from __future__ import annotations

import click

from lfe.cli._errors import friendly_errors


def _steps(values) -> dict[str, int]:
    steps = {}
    for value in values:
        name, _, step = value.partition("=")
        if not name or not step.strip().isdigit():
            raise click.BadParameter(f"{value!r} is not NAME=STEP (a checkpoint name and a whole number)",
                                     param_hint="--step")
        steps[name.strip()] = int(step)
    return steps


@click.command()
@click.argument("stores", nargs=-1, required=True, type=click.Path())
@click.option("--x", "x", type=click.Choice(["step", "params"]), default="step", show_default=True,
              help="Plot against the training step or the parameter count.")
@click.option("--step", "steps", multiple=True, help="A checkpoint's step when its name does not say: NAME=STEP.")
@click.option("--out", type=click.Path(), default=None, help="Folder for the table and figures [default: STORE-evolution].")
@click.option("--threshold", type=float, default=2.0, show_default=True, help="Key neurons have z above this.")
@click.option("--top-percent", type=float, default=None, help="Instead: each language's top P percent by z.")
@click.option("--bootstrap", "n_boot", type=int, default=200, show_default=True, help="Bootstrap resamples (0: none).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--no-figures", is_flag=True, help="Numbers only.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--scheduler", default=None, help="Analyse checkpoints as tasks on this Dask scheduler.")
@click.option("--workers", type=int, default=None, help="Analyse checkpoints on N local worker processes.")
@friendly_errors
def evolve(stores, x, steps, out, threshold, top_percent, n_boot, seed, no_figures, quiet, scheduler, workers):
    """LRDS, SADS, SKLR and key neurons per layer for every checkpoint of STORES, against step or size.

    Analyses checkpoints that have no current analysis (same parameters, same weights); stored
    ablation tables are included. Several stores (say, models of different sizes) share one table.

    \b
    Examples:
        lfe evolve run.zarr
        lfe evolve bloom-560m.zarr bloom-1b7.zarr bloom-7b1.zarr --x params --out sizes/
    """
    from lfe.cluster import cluster
    from lfe.evolve import evolve as run

    with cluster(scheduler, workers) as client:
        rows = run(list(stores), x=x, out=out, steps=_steps(steps), threshold=threshold, top_percent=top_percent,
                   n_boot=n_boot, seed=seed, client=client, figures=not no_figures, progress=not quiet,
                   say=lambda line: click.echo(line, err=True))
    for row in rows:
        click.echo(f"{row['series']} {row['checkpoint']} ({x} {row[x]}): LRDS {row['lrds']:.4f}, SADS {row['sads']:.4f}, "
                   f"SKLR {row['sklr_percent']:.2f}%, key-neuron depth {row['key_layer_center']:.2f}"
                   + (" [duplicate of " + row["duplicate_of"] + "]" if row["duplicate_of"] else ""))
