"""``lfe demo``: the whole pipeline on its embedded default (``lfe.workflows.demo``)."""

from __future__ import annotations

import click

from lfe.cli.options import CorpusSource, PathValue, cache_options, friendly_errors


@click.command()
@friendly_errors
@click.option(
    "--out",
    type=PathValue(),
    default="out/demo",
    show_default=True,
    help="Folder for everything made.",
)
@click.option(
    "--model",
    "alias",
    default="gemma3-270m",
    show_default=True,
    help="A model alias from `lfe models list`, or 'tiny' for a random model built offline.",
)
@click.option(
    "--samples", type=int, default=100, show_default=True, help="Verses probed per language."
)
@click.option(
    "--holdout", type=int, default=50, show_default=True, help="Verses held out for evaluation."
)
@click.option("--seed", type=int, default=0, show_default=True)
@cache_options
@click.option(
    "--train-steps",
    type=int,
    default=None,
    help=(
        "Steps of the evolution section's BLOOM training run (0: skip it) [default: 300; 40 with"
        " tiny]."
    ),
)
@click.option(
    "--eval-verses",
    type=click.IntRange(min=0),
    default=4,
    show_default=True,
    help="Held-out verses per language in the causal section (deactivation, steering); 0 skips it.",
)
@click.option(
    "--corpus",
    type=CorpusSource(),
    default=None,
    help=(
        "Your own parallel corpus (e.g. from `lfe corpus import flores`), sampled instead of the"
        " Bible."
    ),
)
@click.option(
    "--threshold",
    type=float,
    default=2.0,
    show_default=True,
    help="Key neurons have z above this (2 is reachable with 6 languages or more).",
)
def demo(
    out: str,
    alias: str,
    samples: int,
    holdout: int,
    seed: int,
    cache: str | None,
    wheels: str | None,
    train_steps: int | None,
    eval_verses: int,
    corpus: str | None,
    threshold: float,
) -> None:
    """The whole pipeline on its embedded default: fetch, extract, analyze, report.

    By default: the Bible in the paper's nine languages (100 verses each, 50 more held out) through
    Gemma-3-270M, on the CPU in about five minutes plus the first download. A second run reuses the
    cache and the finished store. With --model tiny it runs offline on a random model that lfe
    builds and eight sentences written for lfe (the machinery, not a finding).

    Then the causal section: each language's region switched off against its matched random twin on
    held-out verses (lfe ablate), and the model steered from English to every language (lfe steer).

    Then the evolution section: a small BLOOM-family model trained from scratch on the same
    corpus's texts (seeded, about a minute on a CPU), each saved checkpoint extracted, analysed
    and followed across training with `lfe evolve` (out/evolution/evolution.md).

    With --corpus, the same on your own parallel corpus: --samples rows per language probed,
    --holdout more kept for the causal section, steering from English (else its first language).

    Example (FLORES+ from your own copy, two commands to a report):
        lfe corpus import flores ~/data/floresplus --langs en,fr,zh,ar,hi --out flores.tsv
        lfe demo --corpus flores.tsv --out out/flores     # 5 languages: add --threshold 1.5
    """
    from lfe.workflows.demo import DemoSettings, run_demo

    written = run_demo(
        DemoSettings(
            out=out,
            model=alias,
            samples=samples,
            holdout=holdout,
            seed=seed,
            cache=cache,
            wheels=wheels,
            train_steps=train_steps,
            eval_verses=eval_verses,
            corpus=None if corpus is None else str(corpus),
            threshold=threshold,
        )
    )
    click.echo(f"report: {written.report}")
    if written.evolution is not None:
        click.echo(f"evolution: {written.evolution}")
