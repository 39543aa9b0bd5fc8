"""``lfe info``: what a store holds and how it was made."""

from __future__ import annotations

import json

import click

from lfe.cli.options import PathValue, friendly_errors
from lfe.records import CheckpointSummary


@click.command()
@friendly_errors
@click.argument("store", type=PathValue())
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
def info(store: str, as_json: bool) -> None:
    """Show a store's corpus, checkpoints, shapes, dtypes, progress and recorded parameters."""
    from lfe.store import ActivationStore

    described = ActivationStore.open(store).describe()
    if as_json:
        click.echo(json.dumps(described.to_dict(), indent=2))
        return
    corpus = described.corpus
    click.echo(
        f"store {described.path} (schema {described.schema_version}, lfe {described.lfe_version})"
    )
    click.echo(
        f"corpus: {len(corpus.languages)} languages ({', '.join(corpus.languages)}) x"
        f" {corpus.n_sids} sids = {corpus.n_rows} rows, fingerprint {corpus.fingerprint[:16]}"
    )
    click.echo(f"  selection: {_flat(corpus.selection.to_dict())}")
    if not described.checkpoints:
        click.echo("checkpoints: none yet")
    for name, checkpoint in described.checkpoints.items():
        _show(name, checkpoint)


def _show(name: str, checkpoint: CheckpointSummary) -> None:
    if checkpoint.damaged is not None or checkpoint.meta is None:
        click.echo(f"checkpoint {name}: DAMAGED: {checkpoint.damaged}")
        return
    missing, meta = checkpoint.blocks_missing_chunks, checkpoint.meta
    state = (
        "complete"
        if checkpoint.complete
        else (
            f"DAMAGED: blocks {', '.join(map(str, missing))} lost chunk files; rerun lfe"
            " extract to recompute them"
            if missing
            else "INCOMPLETE: rerun lfe extract to resume"
        )
    )
    click.echo(f"checkpoint {name}: {checkpoint.blocks_done}/{checkpoint.blocks} blocks ({state})")
    click.echo(
        f"  pooled {checkpoint.shape[0]} x {checkpoint.shape[1]} {checkpoint.dtype} ="
        f" {meta.n_layers} layers x {meta.n_neurons} neurons, chunks {list(checkpoint.chunks)}"
    )
    source = meta.source.to_dict() if meta.source else None
    click.echo(f"  model: {_flat(source)}; family {meta.family} ({meta.model_type})")
    click.echo(f"  read point: {meta.read_point} ({meta.read}); pooling: {meta.pooling}")
    click.echo(f"  settings: {_flat(meta.settings.to_dict())}")
    if meta.versions:
        click.echo(f"  made with: {_flat(meta.versions)}")
    click.echo(
        f"  weights sha256 {_short(meta.weights_hash)}, "
        f"tokenizer sha256 {_short(meta.tokenizer_hash)}"
    )
    for kind in ("analysis", "ablation", "steering"):
        record = getattr(checkpoint, kind)  # its parameters, or the sentence saying it is damaged
        shown = "none" if not record else record if isinstance(record, str) else _flat(record)
        click.echo(f"  {kind}: {shown}")


def _short(digest: str | None) -> str:
    return digest[:16] if digest else "not recorded"


def _flat(values: dict | None) -> str:
    """key=value, ... (a record an older lfe did not write: "not recorded")."""
    return (
        "not recorded"
        if values is None
        else ", ".join(f"{key}={value}" for key, value in values.items())
    )
