"""``lfe ablate`` and ``lfe steer`` with ``--backend vllm``: the transformers path's numbers, from
vLLM.

Deactivation through vLLM holds the neurons at 0 at its read point (its CPU build keeps no weight to
zero); perplexities come from vLLM's prompt log-probabilities over the same windows, with the same
prefix.
"""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from lfe.cli import main
from lfe.models.loading import load, resolve_source
from lfe.records import AblationSettings, SteerSettings
from lfe.workflows.ablate import ablate
from lfe.workflows.steer import steer
from tests.helpers import analysed_store, parallel_rows, write_tsv

# tests/engine/test_vllm.py::test_vllm_imports fails where it is missing
pytest.importorskip("vllm")

LANGS = ("en", "fr", "zh", "hi", "ar", "es")


@pytest.fixture(scope="module")
def analysed(tiny_models, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("causal")
    model = tiny_models("llama", size="vllm", bos=True)
    store, held = analysed_store(model, tmp_path, LANGS, n_sids=8, top_percent=3, held_sids=5)
    items = [
        {"lang": lang, "sid": str(i), "context": text, "endings": [text, "zz zz qq"], "label": 0}
        for i, (lang, _, text) in enumerate(parallel_rows(langs=("en", "fr"), n_sids=3, seed=4))
    ]
    choice = tmp_path / "choice.jsonl"
    choice.write_text(
        "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items), encoding="utf-8"
    )
    prompts = write_tsv(
        tmp_path / "prompts.tsv", [("en", "p1", "the cat sat"), ("fr", "p1", "le chat")]
    )
    return model, store, held, choice, prompts, tmp_path


def test_vllm_perplexities_and_choices_equal_the_transformers_ones(analysed) -> None:
    model, store, held, choice, prompts, tmp_path = analysed
    tables = {}
    for backend in ("hf", "vllm"):
        settings = AblationSettings(
            evaluation=str(held),
            regions=("en", "fr"),
            window=24,
            stride=16,
            choice=str(choice),
            generate=str(prompts),
            max_new_tokens=6,
            backend=backend,
        )
        tables[backend] = ablate(str(model), store, settings, out=tmp_path / backend)
    hf, vl = tables["hf"], tables["vllm"]
    assert vl.tokens == hf.tokens
    assert set(hf.perplexity["fr"]) == {"full model", "en", "fr", "random~en", "random~fr"}
    for lang, row in hf.perplexity.items():
        for column, value in row.items():
            assert vl.perplexity[lang][column] == pytest.approx(value, rel=1e-4), (lang, column)
    # every deactivation changed it
    assert min(abs(value) for value in hf.increase_percent["fr"].values()) > 1e-3
    assert vl.choice_accuracy == hf.choice_accuracy
    assert vl.generation_language == hf.generation_language
    assert vl.params.backend == "vllm"
    assert hf.params.backend == "hf"


def test_vllm_steering_continues_as_transformers_does(analysed) -> None:
    model, store, _, _, prompts, tmp_path = analysed
    tables = {
        backend: steer(
            str(model),
            store,
            SteerSettings(
                targets=("fr", "zh"),
                prompts=str(prompts),
                source="en",
                max_new_tokens=6,
                backend=backend,
            ),
            out=tmp_path / f"steer-{backend}",
        )
        for backend in ("hf", "vllm")
    }
    texts = {
        backend: json.loads((tmp_path / f"steer-{backend}" / "ckpt" / "steer.json").read_text())[
            "texts"
        ]
        for backend in tables
    }
    assert [text["continuations"] for text in texts["vllm"]] == [
        text["continuations"] for text in texts["hf"]
    ]
    assert tables["vllm"].cells == tables["hf"].cells


def test_vllm_deactivation_equals_zeroed_down_projection_columns_and_forcing_equals_transformers(
    analysed,
) -> None:
    from lfe.intervene.evaluate import negative_log_likelihood
    from lfe.intervene.evaluators import HfEvaluator, evaluator_for

    model = analysed[0]
    source = resolve_source(str(model))
    loaded = load(source)
    mask = np.random.default_rng(0).random(loaded.adapter.n_layers * loaded.adapter.n_neurons) < 0.3
    ids = loaded.tokenizer(
        " ".join(text for _, _, text in parallel_rows(langs=("en",), n_sids=4)),
        add_special_tokens=False,
    )["input_ids"]
    values = np.where(mask, 3.0, 0.0).astype(np.float32)
    hf = HfEvaluator(loaded)
    with hf.deactivated(mask):  # zeroed weights, transformers
        expected = negative_log_likelihood(loaded.model, ids, 32, None, [256])
    with hf.forced(mask, values):
        steered = hf.greedy_batch(["the cat", "le chat sur"], 8, [256])
    # forcing changes what comes out
    assert steered != hf.greedy_batch(["the cat", "le chat sur"], 8, [256])
    with evaluator_for(
        load(source), source, backend="vllm", dtype="float32", tensor_parallel=1, longest=40
    ) as vllm:
        with vllm.deactivated(mask):
            got = vllm.negative_log_likelihood(ids, 32, None, [256])
        # released on exit: the full model again
        intact = vllm.negative_log_likelihood(ids, 32, None, [256])
        with vllm.forced(mask, values):
            assert vllm.greedy_batch(["the cat", "le chat sur"], 8, [256]) == steered
    assert got[1] == expected[1]
    assert got[0] == pytest.approx(expected[0], rel=1e-5)
    assert intact[0] != pytest.approx(got[0], rel=1e-3)


def test_lm_eval_with_vllm_is_refused_in_one_line(analysed) -> None:
    model, store, held, *_ = analysed
    result = CliRunner().invoke(
        main,
        [
            "ablate",
            str(model),
            str(store),
            "--eval",
            str(held),
            "--backend",
            "vllm",
            "--lm-eval",
            "xstorycloze_en",
        ],
    )
    assert result.exit_code == 2
    assert "--lm-eval runs the harness's own transformers model: use --backend hf" in result.output
