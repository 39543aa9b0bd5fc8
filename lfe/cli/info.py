"""``lfe info``: what a store holds and how it was made."""

from __future__ import annotations

import json

import click

from lfe.cli.options import PathValue, friendly_errors


@click.command()
@friendly_errors
@click.argument("store", type=PathValue())
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
def info(store, as_json):
    """Show a store's corpus, checkpoints, shapes, dtypes, progress and recorded parameters."""
    from lfe.store import ActivationStore

    described = ActivationStore.open(store).describe()
    if as_json:
        click.echo(json.dumps(described, indent=2))
        return
    corpus = described["corpus"]
    click.echo(
        f"store {described['path']} (schema {described['schema_version']}, lfe"
        f" {described['lfe_version']})"
    )
    click.echo(
        f"corpus: {len(corpus['languages'])} languages ({', '.join(corpus['languages'])}) x"
        f" {corpus['n_sids']} sids = {corpus['n_rows']} rows, fingerprint"
        f" {corpus['fingerprint'][:16]}"
    )
    click.echo(f"  selection: {_flat(corpus['selection'])}")
    if not described["checkpoints"]:
        click.echo("checkpoints: none yet")
    for name, checkpoint in described["checkpoints"].items():
        if "damaged" in checkpoint:
            click.echo(f"checkpoint {name}: DAMAGED: {checkpoint['damaged']}")
            continue
        missing = checkpoint["blocks_missing_chunks"]
        state = (
            "complete"
            if checkpoint["complete"]
            else (
                f"DAMAGED: blocks {', '.join(map(str, missing))} lost chunk files; rerun lfe"
                " extract to recompute them"
                if missing
                else "INCOMPLETE: rerun lfe extract to resume"
            )
        )
        click.echo(
            f"checkpoint {name}: {checkpoint['blocks_done']}/{checkpoint['blocks']} blocks"
            f" ({state})"
        )
        click.echo(
            f"  pooled {checkpoint['shape'][0]} x {checkpoint['shape'][1]} {checkpoint['dtype']} ="
            f" {checkpoint['n_layers']} layers x {checkpoint['n_neurons']} neurons, chunks"
            f" {checkpoint['chunks']}"
        )
        click.echo(
            f"  model: {_flat(checkpoint['source'])}; family {checkpoint['family']}"
            f" ({checkpoint['model_type']})"
        )
        click.echo(
            f"  read point: {checkpoint['read_point']} ({checkpoint['read']}); pooling:"
            f" {checkpoint['pooling']}"
        )
        click.echo(f"  settings: {_flat(checkpoint['settings'])}")
        if checkpoint.get("versions"):
            click.echo(f"  made with: {_flat(checkpoint['versions'])}")
        click.echo(
            f"  weights sha256 {_short(checkpoint['weights_hash'])}, "
            f"tokenizer sha256 {_short(checkpoint['tokenizer_hash'])}"
        )
        for kind in ("analysis", "ablation", "steering"):
            record = checkpoint[kind]  # its parameters, or the sentence saying it is damaged
            click.echo(
                f"  {kind}: "
                + ("none" if not record else record if isinstance(record, str) else _flat(record))
            )


def _short(digest: str | None) -> str:
    return digest[:16] if digest else "not recorded"


def _flat(values: dict | None) -> str:
    """key=value, ... (a record an older lfe did not write: "not recorded")."""
    return (
        "not recorded"
        if values is None
        else ", ".join(f"{key}={value}" for key, value in values.items())
    )
