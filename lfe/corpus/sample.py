"""Splitting a corpus into probing samples and held-out text, and a cross-lingual choice task.

- probing samples: ``samples`` sids drawn with a seed, for ``lfe extract``;
- held-out sids, never probed: per-language text files for perplexity (``lfe ablate``);
- a choice task in the XStoryCloze layout from held-out sids: the verses before a held-out sid in
  language X as the context, two candidate next verses in the ending language (the true next one
  and one drawn from elsewhere), and the index of the true one.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from lfe.corpus.codes import english_in
from lfe.corpus.corpus import Corpus
from lfe.corpus.read import read_corpus
from lfe.corpus.sources import hf
from lfe.corpus.write import write_directory, write_tsv
from lfe.errors import CorpusError, Problem
from lfe.records import ChoiceItem

if TYPE_CHECKING:
    from typing import Sequence


@dataclass(frozen=True)
class SampleFiles:
    """What ``sample_corpus`` wrote: the probing rows, and the held-out files with ``holdout``."""

    probe: Path  # probe.tsv, for `lfe extract`
    holdout: Path | None = None  # holdout.tsv: the held-out rows (steering prompts)
    holdout_texts: Path | None = None  # holdout/<lang>.txt, for `lfe ablate --eval`
    choice: Path | None = None  # choice.jsonl, for `lfe ablate --choice`

    def written(self) -> list[tuple[str, Path]]:
        """(kind, path) of every file written, in the fields' order."""
        return [
            (field.name, path)
            for field in fields(self)
            if (path := getattr(self, field.name)) is not None
        ]


def _rows(corpus: Corpus, sids: list[str]) -> list[tuple[str, str, str]]:
    """The (lang, sid, text) rows of ``sids``, language by language."""
    index = {sid: i for i, sid in enumerate(corpus.sids)}
    return [
        (lang, sid, corpus.texts[l * corpus.n_sids + index[sid]])
        for l, lang in enumerate(corpus.langs)
        for sid in sids
    ]


def split(corpus: Corpus, samples: int, holdout: int, seed: int) -> tuple[list[str], list[str]]:
    """(probing sids, held-out sids): disjoint, drawn with ``seed``, each in corpus order."""
    problems = [Problem("samples", f"must be at least 1, got {samples}")] if samples < 1 else []
    problems += [Problem("holdout", f"must be 0 or more, got {holdout}")] if holdout < 0 else []
    if not problems and samples + holdout > corpus.n_sids:
        sentence = f"{samples} + `holdout` {holdout} is more than the corpus's {corpus.n_sids} sids"
        problems.append(Problem("samples", sentence))
    if problems:
        raise CorpusError.of(*problems)
    drawn = random.Random(seed).sample(range(corpus.n_sids), samples + holdout)
    probe, held = set(drawn[:samples]), set(drawn[samples:])
    return (
        [sid for i, sid in enumerate(corpus.sids) if i in probe],
        [sid for i, sid in enumerate(corpus.sids) if i in held],
    )


def choice_task(
    corpus: Corpus,
    sids: list[str],
    *,
    seed: int,
    context: int = 3,
    ending_lang: str = "en",
    avoid: frozenset[str] = frozenset(),
) -> list[ChoiceItem]:
    """Items: the ``context`` sids before each of ``sids`` (in corpus order) in every language as
    the context; the true next text and a distractor from another sid, both in ``ending_lang``. No
    item shows a sid of ``avoid`` (the probed ones): a held-out evaluation must not contain probed
    text."""
    if ending_lang not in corpus.langs:
        raise CorpusError(
            f"the ending language {ending_lang} is not in the corpus ({', '.join(corpus.langs)})"
        )
    rng = random.Random(seed)
    position = {sid: i for i, sid in enumerate(corpus.sids)}
    text = lambda lang, i: corpus.texts[corpus.langs.index(lang) * corpus.n_sids + i]  # noqa: E731
    items = []
    for sid in sids:
        at = position[sid]
        if at < context or any(corpus.sids[i] in avoid for i in range(at - context, at)):
            continue
        distractor = rng.choice(
            [
                i
                for i in range(corpus.n_sids)
                if abs(i - at) > context and corpus.sids[i] not in avoid
            ]
        )
        label = rng.randrange(2)
        endings = [text(ending_lang, distractor)] * 2
        endings[label] = text(ending_lang, at)
        for lang in corpus.langs:
            items.append(
                ChoiceItem(
                    lang=lang,
                    sid=sid,
                    context=" ".join(text(lang, i) for i in range(at - context, at)),
                    endings=tuple(endings),
                    label=label,
                    ending_lang=ending_lang,
                )
            )
    return items


def sample_corpus(
    path: str | Path,
    *,
    samples: int,
    seed: int,
    holdout: int = 0,
    out_dir: str | Path | None = None,
    langs: Sequence[str] | None = None,
    drop_incomplete: bool = False,
) -> SampleFiles:
    """Write probe.tsv, and with ``holdout``: holdout.tsv, holdout/<lang>.txt and choice.jsonl."""
    if out_dir is None and str(path).startswith(hf.PREFIX):
        raise CorpusError.naming(
            f"{path} is a Hugging Face dataset: pass `out_dir` for what is drawn from it"
        )
    corpus = read_corpus(path, langs=langs, drop_incomplete=drop_incomplete)
    probe, held = split(corpus, samples, holdout, seed)
    out = Path(out_dir) if out_dir else Path(path).with_suffix("")
    out.mkdir(parents=True, exist_ok=True)
    written = SampleFiles(probe=write_tsv(out / "probe.tsv", _rows(corpus, probe)))
    if held:
        written = _held_out_files(out, corpus, probe, held, seed, written.probe)
    (out / "split.json").write_text(
        json.dumps(
            {
                "source": str(path),
                "samples": samples,
                "holdout": holdout,
                "seed": seed,
                "probe_sids": probe,
                "holdout_sids": held,
            },
            indent=1,
        )
    )
    return written


def _held_out_files(
    out: Path, corpus: Corpus, probe: list[str], held: list[str], seed: int, probe_file: Path
) -> SampleFiles:
    """holdout.tsv, holdout/<lang>.txt and choice.jsonl of the held-out sids ``held``."""
    held_rows = _rows(corpus, held)
    ending = english_in(corpus.langs) or corpus.langs[0]
    items = choice_task(corpus, held, seed=seed, ending_lang=ending, avoid=frozenset(probe))
    choice = out / "choice.jsonl"
    choice.write_text(
        "".join(json.dumps(item.to_dict(), ensure_ascii=False) + "\n" for item in items),
        encoding="utf-8",
    )
    return SampleFiles(
        probe=probe_file,
        holdout=write_tsv(out / "holdout.tsv", held_rows),
        holdout_texts=write_directory(
            out / "holdout",
            {lang: [text for l, _, text in held_rows if l == lang] for lang in corpus.langs},
        ),
        choice=choice,
    )


def read_choice_items(path: str | Path) -> list[ChoiceItem]:
    """The items of a choice task (JSONL, the layout ``choice_task`` writes); ``CorpusError`` naming
    the line."""
    items = []
    if not Path(path).is_file():
        raise CorpusError.naming(
            f"{path} is not a file; `choice` takes the JSONL that `lfe corpus sample --holdout` "
            "writes (choice.jsonl)"
        )
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise CorpusError.naming(
            f"{path} is not UTF-8 text; `choice` takes a JSONL file (choice.jsonl)"
        ) from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            raise CorpusError.naming(
                f"{path}:{number}: not a JSON line; `choice` takes the JSONL that "
                "`lfe corpus sample --holdout` writes (choice.jsonl)"
            ) from None
        endings = item.get("endings") if isinstance(item, dict) else None
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("lang"), str)
            or not isinstance(item.get("context"), str)
            or not isinstance(endings, list)
            or len(endings) < 2
            or not all(isinstance(e, str) for e in endings)
            or not isinstance(item.get("label"), int)
            or not 0 <= item["label"] < len(endings)
        ):
            raise CorpusError(
                f"{path}:{number}: a choice item needs lang, context, endings (two or more texts)"
                " and label (the index of the right ending)"
            )
        sid = item.get("sid")
        items.append(
            ChoiceItem(
                lang=item["lang"],
                context=item["context"],
                endings=tuple(endings),
                label=item["label"],
                sid=None if sid is None else str(sid),
                ending_lang=item.get("ending_lang"),
            )
        )
    if not items:
        raise CorpusError(f"{path} holds no choice items")
    return items
