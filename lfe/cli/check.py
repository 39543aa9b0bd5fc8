"""``lfe check``: an integrity report of a store; exit status 1 when something is wrong."""

from __future__ import annotations

import json

import click

from lfe.cli.options import PathValue, friendly_errors


@click.command()
@friendly_errors
@click.argument("store", type=PathValue())
@click.option(
    "--deep",
    is_flag=True,
    help="Read every chunk: checksums, NaN/inf rows, row norms against the rows.",
)
@click.option(
    "--repair",
    is_flag=True,
    help=(
        "Read every chunk (as --deep) and clear the done flag of damaged blocks, so the same "
        "`lfe extract` recomputes exactly those."
    ),
)
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def check(store: str, deep: bool, repair: bool, as_json: bool, quiet: bool) -> None:
    """Check STORE: schema, shapes, the resume manifest against the chunks on disk, the corpus
    fingerprint; with --deep also every chunk's checksum, non-finite rows and the row norms.

    \b
    Example:
        lfe check run.zarr --deep
    """
    from dataclasses import asdict

    from lfe.workflows.check import check_store

    report = check_store(store, deep=deep, repair=repair, progress=not quiet and not as_json)
    if as_json:
        click.echo(json.dumps({**asdict(report), "ok": report.ok}, indent=2))
    else:
        for finding in report.findings:
            click.echo(str(finding))
        read = f", {report.chunks_read} chunks and {report.rows_checked} rows read" if deep else ""
        click.echo(
            f"{'OK' if report.ok else 'DAMAGED'}: {report.blocks_checked} blocks checked{read}"
        )
        for name, blocks in report.repaired.items():
            click.echo(
                f"repaired {name}: "
                + (f"blocks {', '.join(map(str, blocks))}" if blocks else "removed, all blocks")
                + " will be recomputed by the same `lfe extract`"
            )
    if not report.ok:
        raise SystemExit(1)
