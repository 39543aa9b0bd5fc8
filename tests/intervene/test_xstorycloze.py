"""lfe's lm-evaluation-harness tasks for the paper's cross-lingual XStoryCloze (Appendix B), run
offline on a local dataset in XStoryCloze's layout written here."""

import json
import random

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from lfe.cli import main
from lfe.records import FULL_MODEL
from lfe.store import ActivationStore
from tests.helpers import analysed_store

XSTORYCLOZE_LANGUAGES = ("ar", "en", "es", "eu", "hi", "id", "my", "ru", "sw", "te", "zh")
ENGLISH_ENDINGS = [
    ("She went home happy.", "The moon ate the table."),
    ("He fixed the bike at last.", "Water forgot to be wet."),
    ("They shared the cake.", "The door sang in French."),
    ("The dog slept by the fire.", "Tuesday was made of glass."),
]


def _story(lang: str, number: int, rng: random.Random) -> dict:
    good, bad = ENGLISH_ENDINGS[number % len(ENGLISH_ENDINGS)]
    right = rng.choice((1, 2))
    endings = (good, bad) if right == 1 else (bad, good)
    return {
        "story_id": f"story-{number}",
        **{
            f"input_sentence_{i}": f"[{lang}] Sentence {i} of story {number}." for i in (1, 2, 3, 4)
        },
        # each language's own endings: the task must not use them, it takes the English ones
        "sentence_quiz1": f"[{lang}] " + endings[0],
        "sentence_quiz2": f"[{lang}] " + endings[1],
        "answer_right_ending": right,
    }


@pytest.fixture
def xstorycloze(tmp_path, monkeypatch):
    """A folder in the hub's layout of XStoryCloze (one config per language, splits train and
    eval) for each of its languages, read with no network; Spanish has one story English lacks."""
    import datasets
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    folder = tmp_path / "xstory_cloze"
    configs = []
    for lang in XSTORYCLOZE_LANGUAGES:
        extra = int(lang == "es")
        rng = random.Random(7)  # the same answers in every language, as in XStoryCloze
        for split, numbers in (("train", range(100, 102)), ("eval", range(8 + extra))):
            (folder / lang).mkdir(parents=True, exist_ok=True)
            (folder / lang / f"{split}.jsonl").write_text(
                "".join(json.dumps(_story(lang, n, rng)) + "\n" for n in numbers)
            )
        files = "".join(
            f"  - split: {split}\n    path: {lang}/{split}.jsonl\n" for split in ("train", "eval")
        )
        configs.append(f"- config_name: {lang}\n  data_files:\n{files}")
    (folder / "README.md").write_text("---\nconfigs:\n" + "".join(configs) + "---\n")
    return folder


def _harness_loglikelihood(model, tokenizer, context: str, continuation: str) -> float:
    """The harness's log-likelihood of ``continuation`` after ``context``, computed by hand: both
    encoded together without special tokens, the continuation's tokens scored."""
    whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
    start = len(tokenizer(context, add_special_tokens=False)["input_ids"])
    with torch.no_grad():
        logits = model(torch.tensor([whole[:-1]])).logits[0].log_softmax(-1)
    return float(sum(logits[i - 1, whole[i]] for i in range(start, len(whole))))


def _hand_accuracy(model, tokenizer, folder, lang: str, limit: int | None = None) -> float:
    """The paper's choice on the eval split (its first ``limit`` stories), by hand: the story in
    ``lang`` and "The ending in English:", the English ending of the same story with the higher
    log-likelihood."""
    english = {
        row["story_id"]: row
        for row in map(json.loads, (folder / "en" / "eval.jsonl").read_text().splitlines())
    }
    right = []
    for row in map(json.loads, (folder / lang / "eval.jsonl").read_text().splitlines()):
        if row["story_id"] not in english:
            continue
        story = [row[f"input_sentence_{i}"] for i in (1, 2, 3, 4)]
        context = " ".join([*story, "The ending in English:"])
        endings = [english[row["story_id"]][f"sentence_quiz{i}"] for i in (1, 2)]
        scores = [_harness_loglikelihood(model, tokenizer, context, " " + e) for e in endings]
        right.append(int(np.argmax(scores)) + 1 == row["answer_right_ending"])
    return float(np.mean(right[:limit]))


def test_stories_are_joined_to_their_english_endings_by_story_id(xstorycloze) -> None:
    import importlib.util

    from lfe.intervene.harness import LFE_TASKS

    spec = importlib.util.spec_from_file_location("utils", LFE_TASKS / "utils.py")
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    joined = utils.english_endings("es", dataset_path=str(xstorycloze))
    assert len(joined["eval"]) == 8  # story-8 has no English story: dropped
    first = joined["eval"][0]
    assert first["input_sentence_1"].startswith("[es] ")
    english = json.loads((xstorycloze / "en" / "eval.jsonl").read_text().splitlines()[0])
    assert first["story_id"] == english["story_id"]
    assert first["english_quiz1"] == english["sentence_quiz1"]
    assert first["english_quiz2"] == english["sentence_quiz2"]
    assert first["answer_right_ending"] in (1, 2)


def test_the_full_models_accuracy_is_the_hand_computed_choice(tiny_models, xstorycloze) -> None:
    from lfe.intervene.harness import HarnessRunner
    from lfe.models.loading import load, resolve_source

    loaded = load(resolve_source(str(tiny_models("llama", size="small"))), "float32", "cpu")
    runner = HarnessRunner(
        loaded.model,
        loaded.tokenizer,
        ("lfe_xstorycloze_en_endings_es",),
        metadata={"dataset_path": str(xstorycloze)},
    )
    scores = runner.scores()
    expected = _hand_accuracy(loaded.model, loaded.tokenizer, xstorycloze, "es")
    assert scores["lfe_xstorycloze_en_endings_es acc"] == pytest.approx(expected)


def test_lfe_ablate_runs_the_group_with_each_region_deactivated(
    tiny_models, xstorycloze, tmp_path
) -> None:
    from lfe.intervene.deactivate import deactivated
    from lfe.models.loading import load, resolve_source

    model = tiny_models("llama", size="small")
    store, held = analysed_store(
        model, tmp_path, ("en", "es"), n_sids=8, top_percent=5, held_sids=4
    )
    args = ["ablate", str(model), str(store), "--eval", str(held), "--regions", "es"]
    harness = ["--lm-eval", "lfe_xstorycloze_en_endings", "--lm-eval-limit", "4"]
    metadata = ["--lm-eval-metadata", f"dataset_path={xstorycloze}"]
    result = CliRunner().invoke(main, [*args, *harness, *metadata, "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    table = ActivationStore.open(store).ablation("ckpt")
    assert table.params.lm_eval_metadata == {"dataset_path": str(xstorycloze)}
    es = table.harness["lfe_xstorycloze_en_endings_es acc"]
    assert set(es) == {FULL_MODEL, "es", "random~es"}
    assert "lfe_xstorycloze_en_endings acc" in table.harness  # the group's mean
    # with the region's mask live, the harness's accuracy is the hand-computed one under that mask
    loaded = load(resolve_source(str(model)), "float32", "cpu")
    opened = ActivationStore.open(store)
    languages = list(opened.analysis("ckpt").languages)
    mask = opened.analysis_arrays("ckpt").regions[languages.index("es")]
    with deactivated(loaded.adapter, mask):
        expected = _hand_accuracy(loaded.model, loaded.tokenizer, xstorycloze, "es", limit=4)
    assert es["es"] == pytest.approx(expected)


def test_a_dataset_without_the_tasks_language_is_one_line(tiny_models, xstorycloze) -> None:
    import shutil

    from lfe.errors import LfeError
    from lfe.intervene.harness import HarnessRunner
    from lfe.models.loading import load, resolve_source

    readme = xstorycloze / "README.md"
    readme.write_text(readme.read_text().replace("config_name: sw", "config_name: swahili"))
    shutil.rmtree(xstorycloze / "sw")
    loaded = load(resolve_source(str(tiny_models("llama"))), "float32", "cpu")
    with pytest.raises(  # before anything is evaluated
        LfeError, match=r"lfe_xstorycloze_en_endings_sw: lm-evaluation-harness failed"
    ):
        HarnessRunner(
            loaded.model,
            loaded.tokenizer,
            ("lfe_xstorycloze_en_endings_sw",),
            metadata={"dataset_path": str(xstorycloze)},
        )
