"""``lfe report``: every report and figure of a store written again from what the store keeps."""

from __future__ import annotations

import click

from lfe.cli.options import PathValue, friendly_errors


@click.command()
@friendly_errors
@click.argument("store", type=PathValue())
@click.option("--checkpoint", default="all", show_default=True, help="A checkpoint's name, or all.")
@click.option(
    "--out",
    type=PathValue(),
    default=None,
    help=(
        "Folder for analysis/, ablation/ and steer/ [default: STORE-analysis, STORE-ablation,"
        " STORE-steer]."
    ),
)
@click.option("--no-figures", is_flag=True, help="The analysis's numbers and text only.")
def report(store: str, checkpoint: str, out: str | None, no_figures: bool) -> None:
    """Write the reports of STORE's checkpoints again from the store alone (no model, no
    recomputation).

    \b
    Example:
        lfe report run.zarr --out results/     # results/analysis/<checkpoint>/report.md, ...
    """
    from lfe.workflows.report import KINDS, rebuild_reports

    for row in rebuild_reports(store, checkpoint, out=out, figures=not no_figures):
        written = [
            f"{kind} -> {getattr(row, kind)}" for kind in KINDS if getattr(row, kind) is not None
        ]
        click.echo(
            f"{row.checkpoint}: " + ("; ".join(written) or "nothing kept yet (run `lfe analyze`)")
        )
