"""``lfe ablate``: deactivate key regions and their random controls; measure perplexity and more."""

from __future__ import annotations

import click

from lfe.cli.options import (
    CommaList,
    CorpusSource,
    KeyValue,
    PathValue,
    backend_options,
    device_option,
    dtype_option,
    friendly_errors,
)
from lfe.records import METHODS, ZSCORE


@click.command()
@friendly_errors
@click.argument("model")
@click.argument("store", type=PathValue(exists=True))
@click.option(
    "--eval",
    "evaluation",
    required=True,
    type=CorpusSource(),
    help=(
        "Held-out text: a folder of <lang>.txt files, a corpus of held-out sids, hf:NAME[:CONFIG]"
        "[:SPLIT], or one dataset per language with {lang} or {name} in it (XL-Sum:"
        " 'hf:csebuetnlp/xlsum:{name}:test[:200]')."
    ),
)
@click.option("--checkpoint", default=None, help="The checkpoint whose analysis gives the regions.")
@click.option(
    "--regions",
    type=CommaList(),
    default="all",
    show_default=True,
    help="Languages whose key regions to deactivate.",
)
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default=ZSCORE,
    show_default=True,
    help="Whose regions: the paper's z-scores, LAPE's or AP's (from `lfe analyze --method`).",
)
@click.option(
    "--random",
    "random_kind",
    default="matched",
    show_default=True,
    help="Controls: matched, layer-matched, largest, or a percent such as 10%.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random controls.")
@click.option(
    "--window",
    type=int,
    default=None,
    help="Tokens per perplexity window [default: context, at most 1024].",
)
@click.option(
    "--stride",
    type=int,
    default=None,
    help="Sliding windows every N tokens [default: non-overlapping].",
)
@click.option(
    "--choice",
    type=PathValue(exists=True),
    default=None,
    help="A choice task (JSONL, XStoryCloze layout).",
)
@click.option(
    "--generate",
    type=PathValue(exists=True),
    default=None,
    help="Prompts (a corpus file) to continue greedily.",
)
@click.option("--max-new-tokens", type=int, default=32, show_default=True)
@click.option(
    "--lm-eval",
    "lm_eval",
    type=CommaList(),
    default=(),
    help=(
        "lm-evaluation-harness tasks, comma-separated (e.g. xstorycloze_en,xnli_fr; the paper's"
        " cross-lingual XStoryCloze: lfe_xstorycloze_en_endings), run with each mask live"
        " (lfe[eval])."
    ),
)
@click.option(
    "--lm-eval-limit", type=int, default=None, help="At most N documents of each harness task."
)
@click.option(
    "--lm-eval-include",
    type=PathValue(exists=True, file_okay=False),
    default=None,
    help="A folder of your own harness task YAMLs.",
)
@click.option(
    "--lm-eval-metadata",
    type=KeyValue(),
    multiple=True,
    help=(
        "KEY=VALUE for the harness tasks' metadata, repeatable (lfe_xstorycloze_en_endings:"
        " dataset_path=FOLDER for a local copy of XStoryCloze)."
    ),
)
@dtype_option
@device_option
@backend_options
@click.option(
    "--out", type=PathValue(), default=None, help="[default: STORE-ablation/<checkpoint>]"
)
def ablate(
    model: str,
    store: str,
    evaluation: str,
    checkpoint: str | None,
    regions: tuple[str, ...],
    method: str,
    random_kind: str,
    seed: int,
    window: int | None,
    stride: int | None,
    choice: str | None,
    generate: str | None,
    max_new_tokens: int,
    lm_eval: tuple[str, ...],
    lm_eval_limit: int | None,
    lm_eval_include: str | None,
    lm_eval_metadata: tuple[tuple[str, str], ...],
    dtype: str,
    device: str,
    backend: str,
    tensor_parallel: int,
    out: str | None,
) -> None:
    """Deactivate each language's key region of MODEL (from `lfe analyze` on STORE) and measure.

    \b
    Example:
        lfe ablate "$(lfe models fetch gemma3-270m)" out/demo/run.zarr --checkpoint gemma3-270m \\
            --eval out/demo/sample/holdout --choice out/demo/sample/choice.jsonl
    """
    from lfe.records import AblationSettings
    from lfe.workflows.ablate import ablate as run

    settings = AblationSettings(
        regions=regions,
        method=method,
        random=random_kind,
        seed=seed,
        window=window,
        stride=stride,
        dtype=dtype,
        device=device,
        evaluation=str(evaluation),
        choice=choice,
        generate=generate,
        max_new_tokens=max_new_tokens,
        lm_eval_limit=lm_eval_limit,
        lm_eval=lm_eval,
        lm_eval_include=lm_eval_include,
        lm_eval_metadata=dict(lm_eval_metadata),
        backend=backend,
        tensor_parallel=tensor_parallel,
    )
    run(model, store, settings, checkpoint=checkpoint, out=out)
