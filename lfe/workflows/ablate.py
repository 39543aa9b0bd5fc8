"""``lfe ablate`` as a library call: deactivate each key region (and its random controls) and
measure.

For the full model, each language's key region (from ``lfe analyze``) and seeded random controls,
it measures perplexity per language on held-out text, the accuracy of a cross-lingual choice task,
greedy generations and lm-evaluation-harness tasks; the masks are live during every evaluation. The
paper's table follows: rows = evaluated language, columns = deactivated region, cells = percent
increase over the full model on the same windows.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Sequence

import numpy as np

from lfe.analysis.controls import control_regions
from lfe.corpus.eval_text import read_eval_texts
from lfe.corpus.read import read_records
from lfe.corpus.sample import read_choice_items
from lfe.errors import LfeError, Problem
from lfe.intervene.deactivate import deactivated
from lfe.intervene.evaluate import perplexity
from lfe.intervene.evaluators import Evaluator, check_fits, evaluator_for
from lfe.intervene.harness import HarnessRunner
from lfe.intervene.language_id import identify, same_language_share
from lfe.log import logger
from lfe.models.loading import (
    LoadedModel,
    checked_model,
    context_length,
    model_device,
    resolve_source,
)
from lfe.models.tokens import special_prefix
from lfe.records import (
    FULL_MODEL,
    AblationSettings,
    AblationTable,
    AnalysisArrays,
    ChoiceItem,
    Generation,
)
from lfe.report import write_ablation
from lfe.store import ActivationStore
from lfe.workflows.journal import CellJournal
from lfe.workflows.paths import beside

# deactivated region's name -> mask [layers x neurons], the full model first
Columns = dict[str, np.ndarray]


def ablate(
    model: str,
    store: str | Path,
    settings: AblationSettings,
    *,
    checkpoint: str | None = None,
    out: str | Path | None = None,
) -> AblationTable:
    """Run the deactivation experiment; keep the table in the store and write its files to
    ``out``."""
    opened = ActivationStore.open(store)
    checkpoint = opened.one_checkpoint(checkpoint)
    analysis, arrays = opened.analysis_with_arrays(checkpoint)
    langs = list(analysis.languages)
    columns, twins = _columns(arrays, opened.checkpoint(checkpoint).n_layers, langs, settings)
    loaded = checked_model(
        model,
        opened.checkpoint(checkpoint).meta.weights_hash,
        checkpoint,
        settings.dtype,
        model_device(settings.backend, settings.device),
    )
    held_out = read_eval_texts(settings.evaluation, langs)
    # checked before any evaluation
    items = read_choice_items(settings.choice) if settings.choice else None
    # prompts need not be parallel
    prompts = read_records(settings.generate) if settings.generate else None
    runner = (
        HarnessRunner(
            loaded.model,
            loaded.tokenizer,
            settings.lm_eval,
            limit=settings.lm_eval_limit,
            include=settings.lm_eval_include,
            metadata=settings.lm_eval_metadata,
            seed=settings.seed,
        )
        if settings.lm_eval
        else None
    )
    _warn_if_probed(opened, held_out.sids)
    # the store's special-tokens policy, in every evaluation: the prefix it feeds before each piece
    # of text
    policy = opened.checkpoint(checkpoint).meta.settings.special_tokens
    prefix = special_prefix(loaded.tokenizer, policy)
    window = _window(loaded, settings.window, prefix)
    if settings.stride is not None and settings.stride > window:
        sentence = (
            f"{settings.stride} is longer than the window of {window} tokens; pass {window} or less"
        )
        raise LfeError.of(Problem("stride", sentence))
    params = replace(settings, window=window, analysis=analysis.params)
    folder = Path(out or beside(store, "ablation")) / checkpoint
    identity = {
        "checkpoint": checkpoint,
        "weights": loaded.weights_hash,
        "prefix": prefix,
        "texts": held_out.texts,
        "items": [item.to_dict() for item in items] if items else None,
        "settings": params.to_dict(),
        "masks": _digests(columns),
    }
    # a rerun of the same experiment goes on from its cells
    journal = CellJournal(folder, "ablate", identity)
    longest = _longest(
        loaded, window + len(prefix) + 1, prefix, items, prompts, settings.max_new_tokens
    )
    with evaluator_for(
        loaded,
        resolve_source(model),
        backend=settings.backend,
        dtype=settings.dtype,
        tensor_parallel=settings.tensor_parallel,
        longest=longest,
    ) as evaluator:
        tokens, table = _perplexities(
            evaluator, columns, held_out.texts, window, settings.stride, prefix, journal
        )
        generations = (
            _generations(evaluator, columns, prompts, settings.max_new_tokens, prefix, journal)
            if prompts
            else None
        )
        accuracy = choice_accuracy(evaluator, columns, items, prefix, journal) if items else None
        harness = _harness(runner, loaded, columns, journal) if runner else None
    result = AblationTable(
        checkpoint=checkpoint,
        model=model,
        params=params,
        tokens=tokens,
        perplexity=table,
        increase_percent={
            lang: {
                name: 100 * (value / row[FULL_MODEL] - 1)
                for name, value in row.items()
                if name != FULL_MODEL
            }
            for lang, row in table.items()
        },
        region_size={name: int(mask.sum()) for name, mask in columns.items() if name != FULL_MODEL},
        region_percent={
            name: 100 * float(mask.mean()) for name, mask in columns.items() if name != FULL_MODEL
        },
        twins=twins,
        choice_accuracy=accuracy,
        special_tokens=policy,
        harness=harness,
        generation_language=generation_language(generations) if generations else None,
        harness_version=runner.version if runner else None,
    )
    write_ablation(result, generations, folder)
    # evolve, report
    ActivationStore.open(store, mode="r+").write_ablation(checkpoint, result, generations or ())
    journal.close(finished=True)
    logger.info(f"table: {folder / 'table.md'}")
    return result


def _warn_if_probed(opened: ActivationStore, eval_sids: frozenset[str]) -> None:
    shared = eval_sids & set(opened.labels()[1].tolist())
    if shared:
        logger.warning(
            f"{len(shared)} evaluation sids were also probed (e.g. {sorted(shared)[0]}): the"
            " evaluation is not held out; use `lfe corpus sample --holdout`"
        )


def _digests(columns: Columns) -> dict[str, str]:
    return {
        name: hashlib.sha256(np.packbits(mask).tobytes()).hexdigest()
        for name, mask in columns.items()
    }


def _longest(
    loaded: LoadedModel,
    window: int,
    prefix: list[int],
    items: list[ChoiceItem] | None,
    prompts: list | None,
    max_new_tokens: int,
) -> int:
    """The longest sequence any evaluation feeds (an engine sized in advance, vLLM, needs it)."""

    def length(text: str) -> int:
        return len(prefix) + len(loaded.tokenizer(text, add_special_tokens=False)["input_ids"])

    choices = [
        length(item.context) + length(" " + ending) - len(prefix) + 1
        for item in items or []
        for ending in item.endings
    ]
    continued = [length(record.text) + max_new_tokens for record in prompts or []]
    check_fits(loaded, max([*choices, *continued], default=0))  # the window was checked already
    return max([window, *choices, *continued])


def _window(loaded: LoadedModel, window: int | None, prefix: list[int]) -> int:
    """The perplexity window: ``window``, or the model's context (at most 1024) less the prefix;
    checked to fit."""
    context = context_length(loaded.model.config)
    window = window or min(context or 1024, 1024) - len(prefix)
    if window < 2:
        sentence = f"must be at least 2 tokens (one to read, one to predict), got {window}"
        raise LfeError.of(Problem("window", sentence))
    if context is not None and window + len(prefix) > context:
        sentence = (
            f"{window} does not fit the model's context of {context} positions"
            + (f" (with its {len(prefix)} special token(s) before each window)" if prefix else "")
            + f"; pass {context - len(prefix)} or less"
        )
        raise LfeError.of(Problem("window", sentence))
    return window


def _columns(
    arrays: AnalysisArrays, n_layers: int, langs: list[str], settings: AblationSettings
) -> tuple[Columns, dict[str, str | None]]:
    """The full model, each chosen language's key region and the random controls; and the controls'
    twins."""
    key = np.asarray(arrays.regions_of(settings.method), dtype=bool)
    chosen = langs if settings.regions == ("all",) else list(settings.regions)
    unknown = [lang for lang in chosen if lang not in langs]
    if unknown:
        raise LfeError(
            f"no key region for {', '.join(unknown)}; the analysis has {', '.join(langs)}"
        )
    controls = control_regions(
        key[[langs.index(lang) for lang in chosen]],
        chosen,
        n_layers,
        kind=settings.random,
        seed=settings.seed,
    )
    columns = {
        FULL_MODEL: np.zeros(key.shape[1], dtype=bool),
        **{lang: key[langs.index(lang)] for lang in chosen},
        **controls.regions,
    }
    return columns, controls.twins


def _perplexities(
    evaluator: Evaluator,
    columns: Columns,
    texts: dict[str, str],
    window: int,
    stride: int | None,
    prefix: list[int],
    journal: CellJournal,
) -> tuple[dict[str, int], dict[str, dict[str, float]]]:
    """(scored tokens per language, perplexity per language and deactivated region)."""
    from tqdm import tqdm

    tokenizer = evaluator.tokenizer
    token_ids = {
        lang: tokenizer(text, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
        for lang, text in texts.items()
    }
    with tqdm(total=len(columns) * len(texts), desc="ablate", unit="eval") as bar:
        for name, mask in columns.items():
            todo = [lang for lang in texts if ("perplexity", name, lang) not in journal]
            bar.update(len(texts) - len(todo))
            with evaluator.deactivated(mask):
                for lang in todo:
                    journal.put(
                        ("perplexity", name, lang),
                        evaluator.negative_log_likelihood(token_ids[lang], window, stride, prefix),
                    )
                    bar.update()
            journal.sync()
    cells = {(name, lang): journal["perplexity", name, lang] for name in columns for lang in texts}
    tokens = {lang: int(cells[FULL_MODEL, lang][1]) for lang in texts}
    return tokens, {
        lang: {name: perplexity(*cells[name, lang]) for name in columns} for lang in texts
    }


def choice_accuracy(
    evaluator: Evaluator,
    columns: Columns,
    items: list[ChoiceItem],
    prefix: Sequence[int] = (),
    journal: CellJournal | None = None,
) -> dict[str, dict[str, float]]:
    """Accuracy of the choice ``items`` (``read_choice_items``: XStoryCloze layout) per language and
    region."""
    from tqdm import tqdm

    hits: dict[tuple[str, int], bool] = {}
    with tqdm(total=len(columns) * len(items), desc="choice", unit="item") as bar:
        for name, mask in columns.items():
            todo = [
                index
                for index in range(len(items))
                if journal is None or ("choice", name, str(index)) not in journal
            ]
            bar.update(len(items) - len(todo))
            with evaluator.deactivated(mask):  # live during the whole evaluation
                for index in todo:
                    item = items[index]
                    scores = evaluator.ending_scores(item.context, list(item.endings), prefix)
                    hits[name, index] = int(np.argmax(scores)) == item.label
                    if journal is not None:
                        journal.put(("choice", name, str(index)), hits[name, index])
                    bar.update()
            if journal is not None:
                journal.sync()
                hits.update(
                    {
                        (name, index): journal["choice", name, str(index)]
                        for index in range(len(items))
                    }
                )
    langs = dict.fromkeys(item.lang for item in items)
    return {
        lang: {
            name: float(
                np.mean(
                    [hits[name, index] for index, item in enumerate(items) if item.lang == lang]
                )
            )
            for name in columns
        }
        for lang in langs
    }


def _harness(
    runner: HarnessRunner, loaded: LoadedModel, columns: Columns, journal: CellJournal
) -> dict[str, dict[str, float]]:
    """ "task metric" -> deactivated region -> the harness's score, each region's mask live through
    its tasks."""
    for name, mask in columns.items():
        if ("harness", name) not in journal:
            journal.put(
                ("harness", name), runner.scores(partial(deactivated, loaded.adapter, mask))
            )
            journal.sync()
    cells = {name: journal["harness", name] for name in columns}
    return {key: {name: cells[name][key] for name in columns} for key in cells[FULL_MODEL]}


def _generations(
    evaluator: Evaluator,
    columns: Columns,
    prompts: list,
    max_new_tokens: int,
    prefix: list[int],
    journal: CellJournal,
) -> list[Generation]:
    study = {record.lang for record in prompts}
    rows = []
    for index, (lang, sid, prompt) in enumerate(
        (record.lang, record.sid, record.text) for record in prompts
    ):
        for name, mask in columns.items():
            if ("generation", name, str(index)) not in journal:
                with evaluator.deactivated(mask):
                    journal.put(
                        ("generation", name, str(index)),
                        evaluator.greedy_batch([prompt], max_new_tokens, prefix)[0],
                    )
        journal.sync()
        continuations = {name: journal["generation", name, str(index)] for name in columns}
        found = identify(continuations.values(), study=study)
        rows.append(Generation(lang, sid, prompt, continuations, dict(zip(continuations, found))))
    return rows


def generation_language(rows: list[Generation]) -> dict[str, dict[str, float]]:
    """Deactivated region -> prompt language -> the share of its continuations in the prompt's
    language (LAPE's measure)."""
    by_lang: dict[str, list[Generation]] = {}
    for row in rows:
        by_lang.setdefault(row.lang, []).append(row)
    return {
        name: {
            lang: same_language_share([row.languages[name] for row in group], [lang] * len(group))
            for lang, group in by_lang.items()
        }
        for name in rows[0].continuations
    }
