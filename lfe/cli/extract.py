"""``lfe extract``: a corpus and a model into an activation store."""

from __future__ import annotations

import click

from lfe.cli.options import (
    CommaList,
    CorpusSource,
    PathValue,
    backend_options,
    cluster_options,
    device_option,
    dtype_option,
    friendly_errors,
    joined,
)
from lfe.records import COMPRESSIONS, PADDING_SIDES, SPECIAL_TOKENS, STORE_DTYPES, ExtractSettings


@click.command()
@friendly_errors
@click.argument("model", required=False)
@click.option(
    "--checkpoints",
    "pattern",
    default=None,
    help=(
        "Instead of MODEL: a glob of local checkpoint directories (quoted), e.g."
        " 'runs/checkpoint-*'."
    ),
)
@click.option(
    "--corpus",
    "corpus_path",
    required=True,
    type=CorpusSource(),
    help=(
        "TSV/CSV/JSONL with lang, sid, text; a directory with one file per language; or a Hugging"
        " Face dataset, hf:NAME[:CONFIG][:SPLIT] or a save_to_disk folder (lfe[hf])."
    ),
)
@click.option("--out", required=True, type=PathValue(), help="The Zarr store to create or resume.")
@click.option(
    "--revision",
    "--revisions",
    "revisions",
    multiple=True,
    type=CommaList(),
    help="Hub revision(s) to extract, one checkpoint each; repeat or separate with commas.",
)
@click.option(
    "--name", default=None, help="Checkpoint name (default: the revision, else the model's name)."
)
@click.option(
    "--langs",
    type=CommaList(),
    default=None,
    help="Languages to use, comma-separated, in this order.",
)
@click.option(
    "--samples", type=int, default=None, help="Use a random subset of N sids (needs --seed)."
)
@click.option("--seed", type=int, default=None, help="Seed of the --samples draw.")
@click.option("--drop-incomplete", is_flag=True, help="Keep only sids present in every language.")
@click.option(
    "--batch-tokens",
    type=int,
    default=None,
    help="Padded tokens per batch [default: 512 on CPU, 16384 on CUDA].",
)
@dtype_option
@click.option(
    "--store-dtype", type=click.Choice(STORE_DTYPES), default="float32", show_default=True
)
@click.option(
    "--compression",
    type=click.Choice(COMPRESSIONS),
    default="zstd",
    show_default=True,
    help="Chunk compression; both keep a checksum. 'none' writes about twice as fast.",
)
@device_option
@backend_options
@click.option(
    "--special-tokens",
    type=click.Choice(SPECIAL_TOKENS),
    default="exclude",
    show_default=True,
    help=(
        "exclude: feed the text as the tokenizer prepares it (<bos> for Gemma, LLaMA), pool only"
        " the text's tokens; include: pool the special tokens too; none: feed the bare text (the"
        " paper's released code)."
    ),
)
@click.option(
    "--padding-side", type=click.Choice(PADDING_SIDES), default="right", show_default=True
)
@click.option(
    "--stats",
    type=CommaList(),
    default="mean",
    show_default=True,
    help=(
        "Per sample and neuron, comma-separated: mean (always); positive (how many pooled tokens"
        " fired, LAPE's statistic: act(gate) > 0 in gated MLPs)."
    ),
)
@click.option("--max-tokens", type=int, default=None, help="Truncate texts to N tokens (recorded).")
@click.option(
    "--block-rows",
    type=int,
    default=None,
    help="Rows per store chunk and resume unit (default: by model width).",
)
@click.option(
    "--random-init",
    "random_init",
    type=int,
    default=None,
    metavar="SEED",
    help=(
        "The random-weights control: the model's architecture and tokenizer with weights drawn from"
        " SEED (a checkpoint named <name>-random-init-seed<SEED>)."
    ),
)
@click.option(
    "--overwrite", is_flag=True, help="Replace a store or checkpoint made from other inputs."
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@cluster_options
def extract(
    model: str,
    pattern: str | None,
    corpus_path: str,
    out: str,
    revisions: tuple[tuple[str, ...], ...],
    name: str | None,
    langs: tuple[str, ...] | None,
    samples: int | None,
    seed: int | None,
    drop_incomplete: bool,
    batch_tokens: int | None,
    dtype: str,
    store_dtype: str,
    compression: str,
    device: str,
    backend: str,
    tensor_parallel: int,
    special_tokens: str,
    padding_side: str,
    stats: tuple[str, ...],
    max_tokens: int | None,
    block_rows: int | None,
    random_init: int | None,
    overwrite: bool,
    quiet: bool,
    scheduler: str | None,
    workers: int | None,
) -> None:
    """Pool every layer's MLP neurons of MODEL over each text of the corpus into a Zarr store.

    MODEL is a local model directory, a hub id (with --revision) or a GGUF file; or, with
    --checkpoints, a series of local checkpoints, one per matching directory. Rerunning the same
    command after a crash resumes; rerunning a finished run does nothing.

    \b
    Examples:
        lfe extract bigscience/bloom-560m --corpus bible.tsv --out run.zarr \\
            --langs en,fr,zh --samples 100 --seed 0
        lfe extract --checkpoints 'runs/checkpoint-*' --corpus bible.tsv --out run.zarr --workers 2
        lfe extract bigscience/bloom-7b1 --corpus flores.tsv --out run.zarr \\
            --backend vllm --device cuda
    """
    from lfe.workflows.extract import extract_corpus

    settings = ExtractSettings(
        batch_tokens=batch_tokens,
        dtype=dtype,
        store_dtype=store_dtype,
        compression=compression,
        device=device,
        special_tokens=special_tokens,
        padding_side=padding_side,
        max_tokens=max_tokens,
        block_rows=block_rows,
        stats=stats,
        backend=backend,
        tensor_parallel=tensor_parallel,
    )
    reports = extract_corpus(
        model,
        corpus_path,
        out,
        settings,
        pattern=pattern,
        langs=langs,
        samples=samples,
        seed=seed,
        drop_incomplete=drop_incomplete,
        revisions=joined(revisions),
        name=name,
        overwrite=overwrite,
        progress=not quiet,
        random_init=random_init,
        scheduler=scheduler,
        workers=workers,
    )
    for report in reports:
        if report.status == report.COMPLETE:
            click.echo(f"{report.name}: already complete, nothing to do")
        else:
            click.echo(
                f"{report.name}: {report.rows} rows, {report.tokens} tokens in {report.seconds:.1f}"
                f" s ({report.tokens_per_second:,.0f} tok/s) -> {out}"
            )
