"""`lfe ablate` end to end on a tiny model: extract, analyze, deactivate, table and files; then `lfe
evolve`."""

import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import pytest
from click.testing import CliRunner

from lfe.cli import main
from lfe.errors import StoreError
from lfe.intervene.evaluators import HfEvaluator
from lfe.records import FULL_MODEL, AblationSettings, AblationTable, AnalysisSettings, PeerSettings
from lfe.store import ActivationStore
from lfe.workflows.ablate import ablate
from lfe.workflows.analyze import analyze_store
from tests.helpers import analysed_store, parallel_rows, write_tsv

LANGS = ("en", "fr", "zh", "hi", "ar", "es")


@pytest.fixture(scope="module")
def analysed_once(tiny_models, tmp_path_factory):
    model = tiny_models("llama", size="small")
    root = tmp_path_factory.mktemp("analysed")
    store, held = analysed_store(model, root, LANGS, n_sids=10, top_percent=2, held_sids=6)
    return model, store, held


@pytest.fixture
def analysed(analysed_once, tmp_path):
    """The model, a copy of the analysed store (ablations write into it), the held-out text."""
    model, store, held = analysed_once
    shutil.copytree(store, tmp_path / "run.zarr")
    return model, tmp_path / "run.zarr", held


def test_table_compares_every_region_with_the_full_model_on_the_same_windows(
    analysed, tmp_path
) -> None:
    model, store, held = analysed
    table = ablate(
        str(model), store, AblationSettings(evaluation=str(held), window=64), out=tmp_path / "out"
    )
    row = table.perplexity["fr"]
    assert set(row) == {FULL_MODEL, *LANGS, *[f"random~{lang}" for lang in LANGS]}
    for lang, increases in table.increase_percent.items():
        for name, value in increases.items():
            assert value == pytest.approx(
                100 * (table.perplexity[lang][name] / table.perplexity[lang][FULL_MODEL] - 1)
            )
    assert table.region_size["fr"] == table.region_size["random~fr"] > 0
    assert table.twins == {f"random~{lang}": lang for lang in LANGS}
    assert table.params.seed == 0
    assert table.params.random == "matched"
    assert table.params.analysis.top_percent == 2
    assert ActivationStore.open(store).ablation("ckpt") == table
    folder = tmp_path / "out" / "ckpt"
    assert json.loads((folder / "table.json").read_text())["tokens"]["en"] > 0
    assert (folder / "table.png").read_bytes()[:4] == b"\x89PNG"
    assert "| fr |" in (folder / "table.md").read_text()
    assert any(abs(v) > 0 for v in table.increase_percent["fr"].values())


def test_another_model_is_refused(analysed, tiny_models) -> None:
    _, store, held = analysed
    with pytest.raises(StoreError, match="weights hash differs"):
        ablate(
            str(tiny_models("llama", size="small", seed=3)),
            store,
            AblationSettings(evaluation=str(held)),
        )


def test_cli_ablate_with_layer_matched_controls(analysed, tmp_path) -> None:
    model, store, held = analysed
    result = CliRunner().invoke(
        main,
        [
            "ablate",
            str(model),
            str(store),
            "--eval",
            str(held),
            "--regions",
            "en,zh",
            "--random",
            "layer-matched",
            "--window",
            "32",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert result.exit_code == 0, result.output
    table = json.loads((tmp_path / "o" / "ckpt" / "table.json").read_text())
    assert set(table["region_size"]) == {"en", "zh", "layer-random~en", "layer-random~zh"}
    bad = CliRunner().invoke(
        main, ["ablate", str(model), str(store), "--eval", str(held), "--regions", "de"]
    )
    assert bad.exit_code == 2
    assert "no key region for de" in bad.output


def test_ablate_deactivates_the_regions_of_the_method_it_is_given(analysed, tmp_path) -> None:
    model, store, held = analysed
    base = [
        "ablate",
        str(model),
        str(store),
        "--eval",
        str(held),
        "--regions",
        "fr",
        "--window",
        "32",
        "--method",
        "ap",
    ]
    missing = CliRunner().invoke(main, base)
    assert missing.exit_code == 2
    assert "run `lfe analyze --method ap`" in missing.output
    analyze_store(
        store,
        settings=AnalysisSettings(
            top_percent=2, n_boot=0, peers=PeerSettings(methods=("ap",), ap_top_k=7)
        ),
        figures=False,
        progress=False,
    )
    result = CliRunner().invoke(main, base + ["--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    table = ActivationStore.open(store).ablation("ckpt")
    assert table.params.method == "ap"
    assert table.region_size == {"fr": 7, "random~fr": 7}
    assert "chosen by ap" in (tmp_path / "o" / "ckpt" / "table.md").read_text()


def test_generations_and_a_warning_when_evaluation_text_was_probed(
    analysed, tmp_path, caplog
) -> None:
    model, store, held = analysed
    prompts = write_tsv(
        tmp_path / "prompts.tsv", [("en", "p1", "the cat"), ("fr", "p1", "le chat")]
    )
    probed = write_tsv(tmp_path / "probed.tsv", parallel_rows(langs=LANGS, n_sids=3))
    settings = AblationSettings(
        evaluation=str(probed), regions=("fr",), window=32, generate=str(prompts), max_new_tokens=4
    )
    with caplog.at_level(logging.WARNING, logger="lfe"):
        ablate(str(model), store, settings, out=tmp_path / "g")
    assert "3 evaluation sids were also probed" in caplog.text
    [first, _] = json.loads((tmp_path / "g" / "ckpt" / "table.json").read_text())["generations"]
    assert (first["lang"], first["prompt"]) == ("en", "the cat")
    assert set(first["continuations"]) == {FULL_MODEL, "fr", "random~fr"}
    assert all(isinstance(text, str) for text in first["continuations"].values())
    assert "## Greedy generations" in (tmp_path / "g" / "ckpt" / "table.md").read_text()


def test_ablate_generate_reports_the_share_of_continuations_in_the_prompts_language(
    analysed, tmp_path, monkeypatch
) -> None:
    model, store, held = analysed
    prompts = write_tsv(
        tmp_path / "prompts.tsv",
        [("en", "p1", "the cat"), ("fr", "p1", "le chat"), ("fr", "p2", "le")],
    )
    french = "Le soleil se lève à l'est et le chat dort sur le tapis."
    monkeypatch.setattr(
        HfEvaluator,
        "greedy_batch",
        lambda self, prompts, *rest: [french if prompt != "le" else "" for prompt in prompts],
    )
    settings = AblationSettings(
        evaluation=str(held), regions=("fr",), window=32, generate=str(prompts), max_new_tokens=4
    )
    table = ablate(str(model), store, settings, out=tmp_path / "g")
    assert table.generation_language == {
        name: {"en": 0.0, "fr": 0.5} for name in (FULL_MODEL, "fr", "random~fr")
    }
    report = (tmp_path / "g" / "ckpt" / "table.md").read_text()
    assert "## Continuations in the prompt's language" in report
    assert "*fr* (fr):" in report
    assert "(none)" in report


def test_evolve_joins_a_real_ablation_with_a_choice_task_through_the_cli(
    analysed, tmp_path
) -> None:
    """Regression: `lfe ablate --choice` wrote its column as "full model" and `lfe evolve` read
    "full"."""
    model, store, held = analysed
    items = [
        {"lang": lang, "sid": str(i), "context": text, "endings": [text, "zz zz"], "label": 0}
        for i, (lang, _, text) in enumerate(parallel_rows(langs=LANGS, n_sids=2, seed=4))
    ]
    choice = tmp_path / "choice.jsonl"
    choice.write_text(
        "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items), encoding="utf-8"
    )
    ablated = CliRunner().invoke(
        main,
        [
            "ablate",
            str(model),
            str(store),
            "--eval",
            str(held),
            "--regions",
            "en,fr",
            "--window",
            "32",
            "--choice",
            str(choice),
            "--out",
            str(tmp_path / "a"),
        ],
    )
    assert ablated.exit_code == 0, ablated.output
    evolved = CliRunner().invoke(
        main,
        [
            "evolve",
            str(store),
            "--top-percent",
            "2",
            "--bootstrap",
            "0",
            "--step",
            "ckpt=1",
            "--no-figures",
            "--quiet",
            "--out",
            str(tmp_path / "e"),
        ],
    )
    assert evolved.exit_code == 0, evolved.output
    [row] = json.loads((tmp_path / "e" / "evolution.json").read_text())["rows"]
    accuracy = ActivationStore.open(store).ablation("ckpt").choice_accuracy
    assert row["choice_accuracy_full"] == pytest.approx(
        sum(cells[FULL_MODEL] for cells in accuracy.values()) / len(LANGS)
    )
    assert row["own_region_increase"] is not None
    assert row["random_twin_increase"] is not None


def test_bad_choice_files_and_option_values_are_refused_before_any_evaluation(
    analysed, tmp_path
) -> None:
    model, store, held = analysed
    table = write_tsv(tmp_path / "not-jsonl.tsv", [("en", "1", "the cat")])
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text('{"lang": "en", "context": "a", "endings": ["b"], "label": 0}\n')
    for options, message in (
        (["--choice", str(table)], "not-jsonl.tsv:1: not a JSON line; --choice takes the JSONL"),
        (["--choice", str(wrong)], "wrong.jsonl:1: a choice item needs lang, context, endings"),
        (["--window", "-1"], "--window must be positive, got -1"),
        (["--stride", "0"], "--stride must be positive, got 0"),
        (["--max-new-tokens", "-1"], "--max-new-tokens must be positive"),
        (["--seed", "-1"], "--seed must be 0 or more"),
        (["--window", "600"], "--window 600 does not fit the model's context of 512 positions"),
    ):
        result = CliRunner().invoke(
            main, ["ablate", str(model), str(store), "--eval", str(held), *options]
        )
        assert result.exit_code == 2, options
        assert message in result.output, options
        assert "Traceback" not in result.output, options
        assert "ablate:" not in result.output  # refused before the first evaluation
    assert ActivationStore.open(store).ablation("ckpt") is None


STAGES = ("negative_log_likelihood", "ending_scores", "greedy_batch")


class Uninterrupted(NamedTuple):
    """An ablation with every kind of evaluation (perplexity, choice, generation), run whole."""

    model: Path
    store: Path
    settings: AblationSettings
    table: AblationTable
    out: Path
    cells: dict[str, int]  # evaluations per stage


@pytest.fixture(scope="module")
def uninterrupted(analysed_once, tmp_path_factory) -> Uninterrupted:
    root = tmp_path_factory.mktemp("uninterrupted")
    model, original, held = analysed_once
    store = shutil.copytree(original, root / "run.zarr")
    items = [
        {"lang": lang, "sid": str(i), "context": text, "endings": [text, "zz zz"], "label": 0}
        for i, (lang, _, text) in enumerate(parallel_rows(langs=LANGS, n_sids=2, seed=4))
    ]
    choice = root / "choice.jsonl"
    choice.write_text(
        "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items), encoding="utf-8"
    )
    prompts = write_tsv(root / "prompts.tsv", [("en", "p1", "the cat"), ("fr", "p1", "le chat")])
    settings = AblationSettings(
        evaluation=str(held),
        regions=("en", "fr"),
        window=32,
        choice=str(choice),
        generate=str(prompts),
        max_new_tokens=3,
    )
    # each of the 5 conditions (full model, 2 regions, 2 twins) evaluates every text once
    cells = {STAGES[0]: 5 * len(LANGS), STAGES[1]: 5 * len(items), STAGES[2]: 5 * 2}
    table = ablate(str(model), store, settings, out=root / "whole")
    return Uninterrupted(model, store, settings, table, root / "whole", cells)


def _counted(monkeypatch, stage: str, calls: list[str], limit: int | None = None) -> None:
    """``HfEvaluator.<stage>`` counting its calls into ``calls``, interrupted (as Ctrl-C or a kill
    would) at call number ``limit``."""
    real = getattr(HfEvaluator, stage)

    def counted(*args, **kwargs):
        if limit is not None and calls.count(stage) == limit:
            raise KeyboardInterrupt
        calls.append(stage)
        return real(*args, **kwargs)

    monkeypatch.setattr(HfEvaluator, stage, counted)


@pytest.mark.parametrize("stage", STAGES)
def test_an_interrupted_ablation_goes_on_from_its_finished_cells_and_equals_an_uninterrupted_one(
    uninterrupted, tmp_path, monkeypatch, stage
) -> None:
    model, store, settings, whole, whole_out, cells = uninterrupted
    calls: list[str] = []
    with monkeypatch.context() as interrupted:
        _counted(interrupted, stage, calls, limit=5)
        with pytest.raises(KeyboardInterrupt):
            ablate(str(model), store, settings, out=tmp_path / "resumed")
    [journal] = (tmp_path / "resumed" / "ckpt").glob(".cells-ablate-*.jsonl")
    with journal.open("a") as torn:
        # a line cut short by a kill: that cell runs again
        torn.write('{"key": ["perplexity", "en"')
    calls.clear()
    _counted(monkeypatch, stage, calls)
    resumed = ablate(str(model), store, settings, out=tmp_path / "resumed")
    assert len(calls) == cells[stage] - 5
    assert resumed == whole
    assert not journal.exists()
    assert json.loads((tmp_path / "resumed" / "ckpt" / "table.json").read_text()) == json.loads(
        (whole_out / "ckpt" / "table.json").read_text()
    )


def test_another_experiment_never_reuses_the_finished_cells(
    uninterrupted, tmp_path, monkeypatch
) -> None:
    model, store, settings, _, whole_out, cells = uninterrupted
    shutil.copytree(whole_out, tmp_path / "out")
    calls: list[str] = []
    for stage in STAGES:
        _counted(monkeypatch, stage, calls)
    ablate(str(model), store, replace(settings, seed=1), out=tmp_path / "out")
    assert {stage: calls.count(stage) for stage in STAGES} == cells


HARNESS_TASK = """task: lfe_local_continuation
dataset_path: json
dataset_kwargs:
  data_files:
    test: {items}
test_split: test
output_type: loglikelihood
doc_to_text: "{{{{context}}}}"
doc_to_target: "{{{{continuation}}}}"
metric_list:
  - metric: perplexity
    aggregation: perplexity
    higher_is_better: false
"""


@pytest.fixture
def harness_task(tmp_path, monkeypatch):
    """A local lm-evaluation-harness task (a YAML over a JSONL file written here), read with no
    network."""
    import datasets
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    items = tmp_path / "items.jsonl"
    items.write_text(
        "".join(
            json.dumps({"context": text[:12], "continuation": text[12:]}, ensure_ascii=False) + "\n"
            for _, _, text in parallel_rows(langs=("en", "fr"), n_sids=3, seed=5)
        ),
        encoding="utf-8",
    )
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "local.yaml").write_text(
        HARNESS_TASK.format(items=items), encoding="utf-8"
    )
    return tmp_path / "tasks"


def test_lm_eval_tasks_score_every_region_with_its_mask_live_and_join_evolve(
    analysed, harness_task, tmp_path
) -> None:
    from lfe.intervene.harness import HarnessRunner
    from lfe.models.loading import load, resolve_source

    model, store, held = analysed
    args = [
        "ablate",
        str(model),
        str(store),
        "--eval",
        str(held),
        "--regions",
        "fr",
        "--window",
        "32",
        "--lm-eval",
        "lfe_local_continuation",
        "--lm-eval-include",
        str(harness_task),
        "--out",
        str(tmp_path / "a"),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = ActivationStore.open(store).ablation("ckpt")
    scores = table.harness["lfe_local_continuation perplexity"]
    assert set(scores) == {FULL_MODEL, "fr", "random~fr"}
    assert table.harness_version.startswith("lm-eval ")
    assert scores["fr"] != scores[FULL_MODEL]  # the mask was live while the harness ran
    # the harness's own number for the intact model: lfe wraps its model class, it does not
    # re-implement it
    loaded = load(resolve_source(str(model)), "float32", "cpu")
    direct = HarnessRunner(
        loaded.model, loaded.tokenizer, ("lfe_local_continuation",), include=str(harness_task)
    ).scores()
    assert direct["lfe_local_continuation perplexity"] == pytest.approx(
        scores[FULL_MODEL], rel=1e-6
    )
    assert "## lm-evaluation-harness tasks" in (tmp_path / "a" / "ckpt" / "table.md").read_text()
    evolved = CliRunner().invoke(
        main,
        [
            "evolve",
            str(store),
            "--top-percent",
            "2",
            "--bootstrap",
            "0",
            "--step",
            "ckpt=1",
            "--no-figures",
            "--quiet",
            "--out",
            str(tmp_path / "e"),
        ],
    )
    assert evolved.exit_code == 0, evolved.output
    [row] = json.loads((tmp_path / "e" / "evolution.json").read_text())["rows"]
    assert row["harness_full"] == {
        "lfe_local_continuation perplexity": pytest.approx(scores[FULL_MODEL])
    }
    assert (
        "harness_full lfe_local_continuation perplexity"
        in (tmp_path / "e" / "evolution.csv").read_text()
    )
    unknown = CliRunner().invoke(
        main, [*args[:-4], "--lm-eval", "no_such_task", "--lm-eval-include", str(harness_task)]
    )
    assert unknown.exit_code == 2
    assert "--lm-eval no_such_task: lm-evaluation-harness has no such task" in unknown.output
    # broken YAMLs beside a task are passed over; a task the harness cannot run fails in one
    # line, before any evaluation
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "unreadable.yaml").write_text("task: [lfe_local_continuation\n")
    (broken / "binary.yaml").write_bytes(bytes(range(256)))
    (broken / "wrong.yaml").write_text(
        "task: lfe_wrong\ndataset_path: json\noutput_type: nonsense\n"
    )
    refused = CliRunner().invoke(
        main, [*args[:-4], "--lm-eval", "lfe_wrong", "--lm-eval-include", str(broken)]
    )
    assert refused.exit_code == 2, refused.output
    assert "--lm-eval lfe_wrong: lm-evaluation-harness failed (ValueError" in refused.output
    assert len(refused.output.strip().splitlines()) == 1, refused.output


def test_tasks_of_ones_own_are_indexed_without_the_harness_tasks_unless_they_name_one(
    tmp_path,
) -> None:
    from lfe.intervene.harness import _self_contained, _task_manager, _yaml_signature

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "mine.yaml").write_text(
        "group: mine\ntask:\n  - lfe_xstorycloze_en_endings_es\n  - arc_easy\n"
    )
    (mine / "tagged.yaml").write_text(
        "task: mine_tagged\ntag: xnli\ndataset_path: json\noutput_type: loglikelihood\n"
    )
    (mine / "own.yaml").write_text(
        "group: own\ntask:\n  - lfe_xstorycloze_en_endings\n"
        "  - task: lfe_xstorycloze_en_endings_zh\n"
    )
    index = _task_manager(str(mine), _yaml_signature(str(mine)), (), harness_tasks=False).task_index
    assert {"mine", "own", "lfe_xstorycloze_en_endings_es"} <= set(index)
    assert "arc_easy" not in index  # the harness's ~14 s index of its own tasks was not built
    assert _self_contained(index, ["own", "lfe_xstorycloze_en_endings_es"])
    # a group naming a harness task (directly, or as an unknown name) takes the harness's index
    assert not _self_contained(index, ["mine"])
    assert not _self_contained(index, ["arc_easy"])
    # a tag gathers tasks from the harness's index too (here its xnli_* tasks)
    assert "xnli" in index
    assert not _self_contained(index, ["xnli"])


def test_lm_eval_without_the_harness_names_the_extra(analysed, monkeypatch) -> None:
    import builtins

    model, store, held = analysed
    real_import = builtins.__import__
    monkeypatch.setattr(
        builtins,
        "__import__",
        lambda name, *a, **k: (
            (_ for _ in ()).throw(ImportError(name))
            if name.startswith("lm_eval")
            else real_import(name, *a, **k)
        ),
    )
    result = CliRunner().invoke(
        main, ["ablate", str(model), str(store), "--eval", str(held), "--lm-eval", "xnli_fr"]
    )
    assert result.exit_code == 2
    assert (
        "--lm-eval needs lm-evaluation-harness, an optional extra: pip install 'lfe[eval]'"
        in result.output
    )


def test_held_out_text_from_one_dataset_per_language_scores_as_the_same_files(
    analysed, tmp_path, monkeypatch
) -> None:
    import datasets
    import huggingface_hub.constants

    from lfe.corpus.codes import language_name
    from tests.corpus.test_eval_text import write_xlsum

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    model, store, held = analysed
    articles = {
        language_name(lang): (held / f"{lang}.txt").read_text().split("\n") + ["extra line"]
        for lang in LANGS
    }
    folder = write_xlsum(tmp_path / "xlsum", articles)
    lines = len(articles["english"]) - 1  # the split's slice leaves the extra line out
    settings = AblationSettings(evaluation=f"hf:{folder}:{{name}}:test[:{lines}]", window=32)
    from_hub = ablate(str(model), store, replace(settings, regions=("fr",)), out=tmp_path / "h")
    files = ablate(
        str(model),
        store,
        AblationSettings(evaluation=str(held), window=32, regions=("fr",)),
        out=tmp_path / "f",
    )
    assert from_hub.tokens == files.tokens
    assert from_hub.perplexity == files.perplexity
