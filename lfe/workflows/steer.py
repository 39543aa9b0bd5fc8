"""``lfe steer`` as a library call: force a language's key region to that language's typical values
while the model continues prompts, and identify the language that comes out (Kojima et al.'s test).

For each prompt language (the source) and each target language: greedy continuations of the full
model, of the model with the target's region forced to the target's mean pooled activation (and,
with ``zero_source``, the source's region zeroed), and of a random control that forces as many
random neurons (a seeded twin of the region) to their target means. Each continuation's language is
identified offline; the shares of target, source and other languages make the table.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
from py3langid import __version__ as langid_version

from lfe.analysis.controls import control_regions
from lfe.analysis.metrics import label_grid
from lfe.analysis.streaming import language_means
from lfe.corpus.read import read_records
from lfe.errors import LfeError, Problem
from lfe.intervene.evaluators import Evaluator, check_fits, evaluator_for
from lfe.intervene.language_id import identify, known_languages, switch_shares
from lfe.log import logger
from lfe.models.loading import checked_model, model_device, resolve_source
from lfe.models.tokens import special_prefix
from lfe.records import FULL, RANDOM, STEERED, SteerCell, SteeredText, SteerSettings, SteerTable
from lfe.report import write_steering
from lfe.store import ActivationStore
from lfe.workflows.journal import CellJournal
from lfe.workflows.paths import beside, writable_store

Prompts = dict[str, list[tuple[str, str]]]  # source language -> [(sid, prompt)]
# (condition, source, target) -> (mask, values)
Interventions = dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray]]


def steer(
    model: str,
    store: str | Path,
    settings: SteerSettings,
    *,
    checkpoint: str | None = None,
    out: str | Path | None = None,
) -> SteerTable:
    """Run the steering experiment; write its files to ``out`` (default:
    STORE-steer/<checkpoint>)."""
    opened = ActivationStore.open(store)
    checkpoint = opened.one_checkpoint(checkpoint)
    analysis, arrays = opened.analysis_with_arrays(checkpoint)
    regions = np.asarray(arrays.regions_of(settings.method), dtype=bool)
    langs = list(analysis.languages)
    targets = langs if settings.targets == ("all",) else list(settings.targets)
    unknown = [lang for lang in targets if lang not in langs]
    if unknown:
        sentence = f"{', '.join(unknown)}: no region for it; the analysis has {', '.join(langs)}"
        raise LfeError.of(Problem("targets", sentence))
    prompts = read_prompts(
        settings.prompts, settings.source, langs if settings.zero_source else None
    )
    unidentifiable = sorted({*targets, *prompts} - known_languages())
    if unidentifiable:
        logger.warning(
            f"the language identifier does not know {', '.join(unidentifiable)}: "
            "continuations in it count as other"
        )
    data = opened.checkpoint(checkpoint)
    names, _, grid = label_grid(*opened.labels())
    means = language_means(data.as_dask(), grid, data.n_layers, data.n_neurons)[
        [names.index(lang) for lang in langs]
    ]
    interventions = _interventions(regions, means, langs, targets, prompts, settings, data.n_layers)
    loaded = checked_model(
        model,
        data.meta.weights_hash,
        checkpoint,
        settings.dtype,
        model_device(settings.backend, settings.device),
    )
    policy = data.meta.settings.special_tokens
    prefix = special_prefix(loaded.tokenizer, policy)
    folder = Path(out or beside(store, "steer")) / checkpoint
    identity = {
        "checkpoint": checkpoint,
        "weights": loaded.weights_hash,
        "prefix": prefix,
        "prompts": prompts,
        "settings": settings.to_dict(),
        "interventions": {"/".join(key): _digest(*value) for key, value in interventions.items()},
    }
    # a rerun of the same run goes on from its cells
    journal = CellJournal(folder, "steer", identity)
    longest = (
        len(prefix)
        + settings.max_new_tokens
        + max(
            len(loaded.tokenizer(text, add_special_tokens=False)["input_ids"])
            for rows in prompts.values()
            for _, text in rows
        )
    )
    check_fits(loaded, longest)
    with evaluator_for(
        loaded,
        resolve_source(model),
        backend=settings.backend,
        dtype=settings.dtype,
        tensor_parallel=settings.tensor_parallel,
        longest=longest,
    ) as evaluator:
        texts = _continuations(
            evaluator, prompts, interventions, settings.max_new_tokens, prefix, journal
        )
    cells, examples = _cells(texts, prompts, targets, regions, langs)
    table = SteerTable(
        checkpoint=checkpoint,
        model=model,
        cells=cells,
        language_id=f"py3langid {langid_version}",
        params=replace(settings, targets=tuple(targets), analysis=analysis.params),
        special_tokens=policy,
    )
    write_steering(table, examples, folder)
    kept = writable_store(store, "steering table", folder)
    if kept is not None:
        kept.write_steering(checkpoint, table, examples)  # for `lfe report`
    journal.close(finished=True)
    logger.info(f"steering table: {folder / 'steer.md'}")
    return table


def read_prompts(path: str | Path, source: str | None, with_regions: list[str] | None) -> Prompts:
    """The prompts by language (only ``source``'s when given); each language needs a region when
    ``with_regions``."""
    records = read_records(path)  # prompts need not be parallel
    prompts: Prompts = {}
    for record in records:
        if source is None or record.lang == source:
            prompts.setdefault(record.lang, []).append((record.sid, record.text))
    if not prompts:
        raise LfeError(
            f"{path} has no prompt in {source}; it has"
            f" {', '.join(sorted({record.lang for record in records}))}"
        )
    missing = [lang for lang in prompts if with_regions is not None and lang not in with_regions]
    if missing:
        sentence = (
            "needs a region of each prompt language; the analysis has none for "
            f"{', '.join(missing)}: pass `source` one of {', '.join(with_regions or [])}"
        )
        raise LfeError.of(Problem("zero_source", sentence))
    return prompts


def _interventions(
    regions: np.ndarray,
    means: np.ndarray,
    langs: list[str],
    targets: list[str],
    prompts: Prompts,
    settings: SteerSettings,
    n_layers: int,
) -> Interventions:
    """(mask, values) of the steered model and of its random control for every (source, target)
    pair."""
    involved = list(dict.fromkeys([*targets, *(prompts if settings.zero_source else [])]))
    controls = control_regions(
        regions[[langs.index(lang) for lang in involved]],
        involved,
        n_layers,
        kind=settings.random,
        seed=settings.seed,
    )
    twins = {lang: controls.regions[name] for name, lang in controls.twins.items()}
    nothing = np.zeros(regions.shape[1], dtype=bool), np.zeros(regions.shape[1], dtype=np.float32)
    found: Interventions = {(FULL, source, ""): nothing for source in prompts}
    for source in prompts:
        for target in (target for target in targets if target != source):
            for condition, region in (
                (STEERED, lambda lang: regions[langs.index(lang)]),
                (RANDOM, twins.__getitem__),
            ):
                mask, values = region(target).copy(), np.zeros(regions.shape[1], dtype=np.float32)
                values[mask] = means[langs.index(target)][mask]
                # the source's neurons off, where the target's do not claim them
                if settings.zero_source:
                    mask |= region(source)
                found[condition, source, target] = mask, values
    return found


def _continuations(
    evaluator: Evaluator,
    prompts: Prompts,
    interventions: Interventions,
    max_new_tokens: int,
    prefix: list[int],
    journal: CellJournal,
) -> dict[tuple[str, str, str], list[str]]:
    """(condition, source, target) -> continuations of the source's prompts; the full model's target
    is ""."""
    from tqdm import tqdm

    with tqdm(total=len(interventions), desc="steer", unit="condition") as bar:
        for key, (mask, values) in interventions.items():
            if key not in journal:
                with evaluator.forced(mask, values):
                    journal.put(
                        key,
                        evaluator.greedy_batch(
                            [text for _, text in prompts[key[1]]], max_new_tokens, prefix
                        ),
                    )
                journal.sync()
            bar.update()
    return {key: journal[key] for key in interventions}


def _cells(
    texts: dict[tuple[str, str, str], list[str]],
    prompts: Prompts,
    targets: list[str],
    regions: np.ndarray,
    langs: list[str],
) -> tuple[tuple[SteerCell, ...], list[SteeredText]]:
    """The cells (language shares per source and target) and every continuation with its identified
    language."""
    found = {key: identify(values, study=langs) for key, values in texts.items()}
    cells, examples = [], []
    for source, rows in prompts.items():
        for target in (target for target in targets if target != source):
            cells.append(
                SteerCell(
                    source=source,
                    target=target,
                    prompts=len(rows),
                    region_size=int(regions[langs.index(target)].sum()),
                    full=switch_shares(found[FULL, source, ""], source, target),
                    steered=switch_shares(found[STEERED, source, target], source, target),
                    random=switch_shares(found[RANDOM, source, target], source, target),
                )
            )
            for index, (sid, prompt) in enumerate(rows):
                keys = {
                    FULL: (FULL, source, ""),
                    STEERED: (STEERED, source, target),
                    RANDOM: (RANDOM, source, target),
                }
                examples.append(
                    SteeredText(
                        source,
                        sid,
                        prompt,
                        target,
                        {name: texts[key][index] for name, key in keys.items()},
                        {name: found[key][index] for name, key in keys.items()},
                    )
                )
    return tuple(cells), examples


def _digest(mask: np.ndarray, values: np.ndarray) -> str:
    return hashlib.sha256(np.packbits(mask).tobytes() + values.tobytes()).hexdigest()
