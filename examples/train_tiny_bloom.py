"""Train a small BLOOM-family model from scratch on a parallel corpus and save a checkpoint series.

A real checkpoint series that runs on a laptop CPU (about a minute for 300 steps on 2 cores), for
`lfe extract --checkpoints` and `lfe evolve` where no published series can be downloaded:

    lfe corpus fetch bible --out bible.tsv
    python examples/train_tiny_bloom.py bible.tsv --out runs/bloom --steps 300 --seed 0
    lfe corpus sample bible.tsv --samples 100 --seed 0
    lfe extract --checkpoints 'runs/bloom/checkpoint-*' --corpus probe.tsv --out evolution.zarr
    lfe evolve evolution.zarr
"""

from __future__ import annotations

import click

from lfe.cli.options import friendly_errors
from lfe.corpus import read_corpus
from lfe.models.tiny import SIZES
from lfe.models.training import TrainingSettings, seeded_subset, train_series


@click.command()
@friendly_errors
@click.argument("corpus", type=click.Path(exists=True))
@click.option(
    "--out", required=True, type=click.Path(), help="Folder for checkpoint-<step> folders."
)
@click.option("--steps", type=int, default=300, show_default=True)
@click.option(
    "--save-steps",
    default=None,
    help="Comma-separated steps to save [default: 0 and 7 log-spaced steps].",
)
@click.option(
    "--langs", default=None, help="Languages to train on, comma-separated [default: all]."
)
@click.option(
    "--texts",
    "n_texts",
    type=int,
    default=20000,
    show_default=True,
    help="A seeded subset of this many texts.",
)
@click.option("--size", type=click.Choice(sorted(SIZES)), default="train", show_default=True)
@click.option("--seq-len", type=int, default=128, show_default=True)
@click.option("--batch", type=int, default=16, show_default=True)
@click.option("--lr", "learning_rate", type=float, default=2e-3, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def main(corpus, out, steps, save_steps, langs, n_texts, size, seq_len, batch, learning_rate, seed):
    texts = seeded_subset(
        list(read_corpus(corpus, langs=langs.split(",") if langs else None).texts), n_texts, seed
    )
    settings = TrainingSettings(
        steps=steps, size=size, seq_len=seq_len, batch=batch, learning_rate=learning_rate, seed=seed
    )
    try:
        steps_to_save = [int(s) for s in save_steps.split(",")] if save_steps else None
    except ValueError:
        raise click.BadParameter(
            f"{save_steps!r} is not whole numbers separated by commas", param_hint="--save-steps"
        ) from None
    saved = train_series(texts, out, settings, save_steps=steps_to_save)
    click.echo("\n".join(str(path) for path in saved))


if __name__ == "__main__":
    main()
