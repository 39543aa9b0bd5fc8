"""``lfe export`` and ``lfe import``: a store's key regions in layouts other tools read (a tidy CSV,
LAPE's activation_mask), and LAPE's masks read back."""

from __future__ import annotations

import click

from lfe.cli.options import CommaList, PathValue, friendly_errors
from lfe.records import METHODS, ZSCORE


@click.command()
@friendly_errors
@click.argument("store", type=PathValue(exists=True))
@click.option(
    "--regions",
    "fmt",
    type=click.Choice(["csv", "parquet", "lape"]),
    required=True,
    help=(
        "csv or parquet: language, layer, neuron, score, method; lape: LAPE's activation_mask"
        " (torch.save)."
    ),
)
@click.option(
    "--method", type=click.Choice(METHODS), default=ZSCORE, show_default=True, help="Whose regions."
)
@click.option("--checkpoint", default=None, help="The checkpoint whose analysis gives the regions.")
@click.option(
    "--out",
    type=PathValue(),
    default=None,
    help="[default: STORE-regions-<checkpoint>-<method>.csv|parquet|pt]",
)
def export(store: str, fmt: str, method: str, checkpoint: str | None, out: str | None) -> None:
    """Write STORE's key regions (from `lfe analyze`) for other tools.

    \b
    Example:
        lfe export run.zarr --regions lape --method lape --out activation_mask/gemma
    """
    from lfe.workflows.export import export_regions

    click.echo(export_regions(store, fmt, checkpoint=checkpoint, method=method, out=out))


@click.command("import")
@friendly_errors
@click.argument("store", type=PathValue(exists=True))
@click.argument("mask", type=PathValue(exists=True, dir_okay=False))
@click.option(
    "--regions",
    "fmt",
    type=click.Choice(["lape"]),
    default="lape",
    show_default=True,
    help=(
        "The file's layout: LAPE's activation_mask (torch.save of per-language lists of per-layer"
        " indices)."
    ),
)
@click.option(
    "--languages",
    type=CommaList(),
    default=None,
    help="The mask's languages in its order, comma-separated [default: from MASK.languages.json].",
)
@click.option("--checkpoint", default=None, help="The checkpoint whose analysis takes the regions.")
def import_regions(
    store: str, mask: str, fmt: str, languages: tuple[str, ...] | None, checkpoint: str | None
) -> None:
    """Read MASK (regions found by LAPE's code, or exported by lfe) as the LAPE regions of STORE's
    analysis.

    Then `lfe ablate --method lape` and `lfe steer --method lape` test them against matched random
    controls, and `lfe export` or `lfe.tables` list them; the file is recorded as their source.

    \b
    Example:
        lfe import run.zarr activation_mask/llama-7b --languages en,zh,fr,es,vi,id,ja
    """
    from lfe.workflows.export import import_lape_mask

    record = import_lape_mask(
        store, mask, languages=list(languages) if languages else None, checkpoint=checkpoint
    )
    sizes = record.methods["lape"].region_sizes
    click.echo(
        f"LAPE regions of {record.checkpoint or 'the checkpoint'} from {mask}: "
        + ", ".join(f"{lang} {size}" for lang, size in sizes.items())
        + " neurons"
    )
