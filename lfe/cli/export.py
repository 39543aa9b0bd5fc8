"""``lfe export``: a store's key regions in layouts other tools read (a tidy CSV, LAPE's activation_mask)."""

from __future__ import annotations

import click

from lfe.cli.options import PathValue, friendly_errors
from lfe.records import METHODS, ZSCORE


@click.command()
@friendly_errors
@click.argument("store", type=PathValue(exists=True))
@click.option("--regions", "fmt", type=click.Choice(["csv", "lape"]), required=True,
              help="csv: language, layer, neuron, score, method; lape: LAPE's activation_mask (torch.save).")
@click.option("--method", type=click.Choice(METHODS), default=ZSCORE, show_default=True, help="Whose regions.")
@click.option("--checkpoint", default=None, help="The checkpoint whose analysis gives the regions.")
@click.option("--out", type=PathValue(), default=None, help="[default: STORE-regions-<checkpoint>-<method>.csv|pt]")
def export(store, fmt, method, checkpoint, out):
    """Write STORE's key regions (from `lfe analyze`) for other tools.

    \b
    Example:
        lfe export run.zarr --regions lape --method lape --out activation_mask/gemma
    """
    from lfe.workflows.export import export_regions

    click.echo(export_regions(store, fmt, checkpoint=checkpoint, method=method, out=out))
