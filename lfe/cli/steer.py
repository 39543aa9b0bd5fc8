"""``lfe steer``: force a language's key region to its typical values and see which language comes
out."""

from __future__ import annotations

import click

from lfe.cli.options import (
    CommaList,
    PathValue,
    backend_options,
    device_option,
    dtype_option,
    friendly_errors,
)
from lfe.records import METHODS, STEER_RANDOM, ZSCORE


@click.command()
@friendly_errors
@click.argument("model")
@click.argument("store", type=PathValue(exists=True))
@click.option(
    "--to",
    "targets",
    type=CommaList(),
    required=True,
    help="Target languages, comma-separated, or all.",
)
@click.option(
    "--from",
    "source",
    default=None,
    help="Only the prompts in this language [default: every prompt].",
)
@click.option(
    "--prompts",
    required=True,
    type=PathValue(exists=True),
    help="Prompts: a corpus file (lang, sid, text).",
)
@click.option("--checkpoint", default=None, help="The checkpoint whose analysis gives the regions.")
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default=ZSCORE,
    show_default=True,
    help="Whose regions: the paper's z-scores, LAPE's or AP's (from `lfe analyze --method`).",
)
@click.option("--zero-source", is_flag=True, help="Also zero the prompt language's region.")
@click.option(
    "--random",
    "random_kind",
    type=click.Choice(STEER_RANDOM),
    default="matched",
    show_default=True,
    help=(
        "The control: as many random neurons (layer-matched: as many in each layer), forced alike."
    ),
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random control.")
@click.option("--max-new-tokens", type=int, default=32, show_default=True)
@dtype_option
@device_option
@backend_options
@click.option("--out", type=PathValue(), default=None, help="[default: STORE-steer/<checkpoint>]")
def steer(
    model: str,
    store: str,
    targets: tuple[str, ...],
    source: str | None,
    prompts: str,
    checkpoint: str | None,
    method: str,
    zero_source: bool,
    random_kind: str,
    seed: int,
    max_new_tokens: int,
    dtype: str,
    device: str,
    backend: str,
    tensor_parallel: int,
    out: str | None,
) -> None:
    """Continue prompts with a language's key region of MODEL forced to that language's mean (from
    STORE).

    \b
    Example:
        lfe steer "$(lfe models fetch gemma3-270m)" out/demo/run.zarr --checkpoint gemma3-270m \\
            --from en --to fr,zh --prompts out/demo/sample/holdout.tsv
    """
    from lfe.records import SteerSettings
    from lfe.workflows.steer import steer as run

    settings = SteerSettings(
        targets=targets,
        prompts=str(prompts),
        source=source,
        method=method,
        zero_source=zero_source,
        random=random_kind,
        seed=seed,
        max_new_tokens=max_new_tokens,
        dtype=dtype,
        device=device,
        backend=backend,
        tensor_parallel=tensor_parallel,
    )
    table = run(model, store, settings, checkpoint=checkpoint, out=out)
    for cell in table.cells:
        click.echo(
            f"{cell.source} -> {cell.target}: {100 * cell.steered.target:.0f}% in {cell.target}"
            f" steered, {100 * cell.random.target:.0f}% with random neurons,"
            f" {100 * cell.full.target:.0f}% unsteered"
        )
