"""``lfe evolve``: the paper's measures across checkpoints and model sizes, as a table and
figures."""

from __future__ import annotations

import click

from lfe.cli.options import (
    PathValue,
    analysis_options,
    cluster_options,
    friendly_errors,
    output_options,
)
from lfe.records import AXES, AnalysisSettings


def _steps(values: tuple[str, ...]) -> dict[str, int]:
    steps = {}
    for value in values:
        name, _, step = value.partition("=")
        if not name or not step.strip().isdigit():
            raise click.BadParameter(
                f"{value!r} is not NAME=STEP (a checkpoint name and a whole number)",
                param_hint="--step",
            )
        steps[name.strip()] = int(step)
    return steps


@click.command()
@friendly_errors
@click.argument("stores", nargs=-1, required=True, type=PathValue())
@click.option(
    "--x",
    "x",
    type=click.Choice(AXES),
    default="step",
    show_default=True,
    help="Plot against the training step or the parameter count.",
)
@click.option(
    "--step",
    "steps",
    multiple=True,
    help="A checkpoint's step when its name does not say: NAME=STEP.",
)
@click.option(
    "--out",
    type=PathValue(),
    default=None,
    help="Folder for the table and figures [default: STORE-evolution].",
)
@analysis_options
@output_options
@cluster_options
def evolve(
    stores: tuple[str, ...],
    x: str,
    steps: tuple[str, ...],
    out: str | None,
    settings: AnalysisSettings,
    figures: bool,
    progress: bool,
    scheduler: str | None,
    workers: int | None,
) -> None:
    """LRDS, SADS, SKLR and key neurons per layer for every checkpoint of STORES, against step or
    size.

    Analyses checkpoints that have no current analysis (same parameters, same weights); stored
    ablation tables made from the same regions are included. Several stores (say, models of
    different sizes) share one table.

    \b
    Examples:
        lfe evolve run.zarr
        lfe evolve bloom-560m.zarr bloom-1b7.zarr bloom-7b1.zarr --x params --out sizes/
    """
    from lfe.records import EvolutionSettings
    from lfe.workflows.cluster import cluster
    from lfe.workflows.evolve import evolve as run

    evolution = EvolutionSettings(stores=tuple(stores), x=x, analysis=settings)
    with cluster(scheduler, workers) as client:
        rows = run(
            evolution,
            out=out,
            steps=_steps(steps),
            client=client,
            figures=figures,
            progress=progress,
        )
    for row in rows:
        click.echo(
            f"{row.series} {row.checkpoint} ({x} {row.x(x)}): LRDS {row.lrds:.4f}, SADS"
            f" {row.sads:.4f}, SKLR {row.sklr_percent:.2f}%, key-neuron depth"
            f" {row.key_layer_center:.2f}"
            + (f" [duplicate of {row.duplicate_of}]" if row.duplicate_of else "")
        )
