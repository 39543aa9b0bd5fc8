"""``lfe ablate``: deactivate key regions and their random controls; measure perplexity and more."""

from __future__ import annotations

import click

from lfe.cli._errors import friendly_errors


@click.command()
@click.argument("model")
@click.argument("store", type=click.Path(exists=True))
@click.option("--eval", "evaluation", required=True, type=click.Path(exists=True),
              help="A folder of <lang>.txt files, or a corpus file of held-out sids.")
@click.option("--checkpoint", default=None, help="The checkpoint whose analysis gives the regions.")
@click.option("--regions", default="all", show_default=True, help="Languages whose key regions to deactivate.")
@click.option("--random", "random_kind", default="matched", show_default=True,
              help="Controls: matched, layer-matched, largest, or a percent such as 10%.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random controls.")
@click.option("--window", type=int, default=None, help="Tokens per perplexity window [default: context, at most 1024].")
@click.option("--stride", type=int, default=None, help="Sliding windows every N tokens [default: non-overlapping].")
@click.option("--choice", type=click.Path(exists=True), default=None, help="A choice task (JSONL, XStoryCloze layout).")
@click.option("--generate", type=click.Path(exists=True), default=None, help="Prompts (a corpus file) to continue greedily.")
@click.option("--max-new-tokens", type=int, default=32, show_default=True)
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16"]), default="float32", show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("--out", type=click.Path(), default=None, help="[default: STORE-ablation/<checkpoint>]")
@friendly_errors
def ablate(model, store, evaluation, checkpoint, regions, random_kind, seed, window, stride, choice, generate,
           max_new_tokens, dtype, device, out):
    """Deactivate each language's key region of MODEL (from `lfe analyze` on STORE) and measure.

    \b
    Example:
        lfe ablate out/demo/model out/demo/run.zarr --eval out/demo/sample/holdout \\
            --choice out/demo/sample/choice.jsonl
    """
    from lfe.ablate import ablate as run

    run(model, store, evaluation, checkpoint, regions, random_kind, seed, window, stride, choice, generate,
        max_new_tokens, out, dtype, device, say=click.echo)
