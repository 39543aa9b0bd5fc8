"""`lfe steer` on tiny models: forcing sets exactly the forced neurons, an empty region changes
nothing, the run's table, files, control, errors and resume; and the language identifier it reports
with."""

import json
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from lfe.cli import main
from lfe.corpus import read_corpus
from lfe.engine import extract
from lfe.intervene.evaluate import greedy, greedy_batch
from lfe.intervene.evaluators import HfEvaluator
from lfe.intervene.language_id import identify, same_language_share, switch_shares
from lfe.models.forcing import forced
from lfe.models.loading import load, resolve_source
from lfe.records import AnalysisSettings, LanguageShares, SteerSettings
from lfe.workflows.analyze import analyze_store
from lfe.workflows.demo import DEMO_SENTENCES
from lfe.workflows.steer import steer
from tests.helpers import STOPS, ctrl_c_heard, parallel_rows, write_tsv

LANGS = ("en", "fr", "zh", "hi", "ar", "es")
PROMPTS = ["the cat sat", "le chat est assis sur", "猫坐在"]


@pytest.mark.parametrize("family", ["llama", "gpt2", "bloom"])
def test_forcing_sets_exactly_the_forced_neurons_and_an_empty_region_changes_nothing(
    family, tiny_models
) -> None:
    loaded = load(resolve_source(str(tiny_models(family))))
    adapter = loaded.adapter
    total = adapter.n_layers * adapter.n_neurons
    mask = np.zeros(total, bool)
    mask[[1, adapter.n_neurons + 3, total - 1]] = True
    values = np.arange(total, dtype=np.float32) / 7
    seen, plain = {}, {}
    ids = loaded.tokenizer("le chat", return_tensors="pt")["input_ids"]
    with torch.no_grad(), adapter.on_neurons(lambda layer, x: plain.__setitem__(layer, x.clone())):
        loaded.model(input_ids=ids)
    with (
        torch.no_grad(),
        forced(adapter, mask, values),
        adapter.on_neurons(lambda layer, x: seen.__setitem__(layer, x.clone())),
    ):
        loaded.model(input_ids=ids)
    # [T, layers x neurons]
    neurons = torch.cat([seen[layer] for layer in range(adapter.n_layers)], dim=-1)[0]
    np.testing.assert_array_equal(
        neurons[:, mask].numpy(), np.broadcast_to(values[mask], (ids.shape[1], 3))
    )
    # before the first forced neuron's effect: untouched
    assert torch.equal(seen[0][..., :1], plain[0][..., :1])
    tokenizer = loaded.tokenizer
    unsteered = greedy_batch(loaded.model, tokenizer, PROMPTS, 6)
    with forced(adapter, np.zeros(total, bool), values):
        assert greedy_batch(loaded.model, tokenizer, PROMPTS, 6) == unsteered
    # left padding changes nothing
    assert unsteered == [greedy(loaded.model, tokenizer, prompt, 6) for prompt in PROMPTS]


def test_the_language_identifier_knows_the_demo_languages() -> None:
    sentences = json.loads(DEMO_SENTENCES.read_text(encoding="utf-8"))
    for lang, texts in sentences.items():
        found = identify(texts, study=sentences)
        assert same_language_share(found, [lang] * len(texts)) >= 0.75, (lang, found)
    malay = "Air mendidih pada seratus derajat."  # Indonesian that the identifier calls Malay
    assert identify([malay]) == ["ms"]
    assert identify([malay], study=["id", "en"]) == ["id"]
    assert identify([malay], study=["id", "ms"]) == ["ms"]  # a study of both keeps them apart
    assert identify(["", "12 ...", "猫坐在垫子上，看着窗外的鸟。"]) == ["none", "none", "zh"]
    # a study in FLORES codes (lfe corpus import flores) gets its own codes back, varieties included
    flores = ["eng_Latn", "zho_Hans", "ind_Latn"]
    assert identify(
        [sentences["en"][0], "猫坐在垫子上，看着窗外的鸟。", malay, "Le chat dort."], study=flores
    ) == ["eng_Latn", "zho_Hans", "ind_Latn", "fr"]
    assert switch_shares(["fr", "en", "de", "fr"], source="en", target="fr") == LanguageShares(
        target=0.5, source=0.25, other=0.25
    )


@pytest.fixture
def analysed(tiny_models, tmp_path):
    corpus = read_corpus(write_tsv(tmp_path / "c.tsv", parallel_rows(langs=LANGS, n_sids=10)))
    model = tiny_models("llama", size="small")
    extract(str(model), corpus, tmp_path / "run.zarr", name="ckpt", progress=False)
    analyze_store(
        tmp_path / "run.zarr",
        settings=AnalysisSettings(top_percent=2, n_boot=0, null=0),
        figures=False,
        progress=False,
    )
    prompts = write_tsv(
        tmp_path / "prompts.tsv",
        [("en", "p1", "the cat sat"), ("en", "p2", "the dog"), ("fr", "p1", "le chat est")],
    )
    return model, tmp_path / "run.zarr", prompts


def test_steer_writes_a_table_with_its_random_control_and_resumes_to_the_same_result(
    analysed, tmp_path, monkeypatch
) -> None:
    model, store, prompts = analysed
    settings = SteerSettings(
        targets=("fr", "zh"), prompts=str(prompts), zero_source=True, max_new_tokens=4
    )
    whole = steer(str(model), store, settings, out=tmp_path / "whole")
    assert [(cell.source, cell.target) for cell in whole.cells] == [
        ("en", "fr"),
        ("en", "zh"),
        ("fr", "zh"),
    ]
    for cell in whole.cells:
        assert cell.prompts == (2 if cell.source == "en" else 1)
        assert cell.region_size > 0
        for shares in (cell.full, cell.steered, cell.random):
            assert shares.target + shares.source + shares.other == pytest.approx(1.0)
    saved = json.loads((tmp_path / "whole" / "ckpt" / "steer.json").read_text())
    assert len(saved["texts"]) == 5
    assert saved["params"]["analysis"]["top_percent"] == 2
    assert saved["language_id"].startswith("py3langid")
    assert {text["target"] for text in saved["texts"]} == {"fr", "zh"}
    # forcing the region changes what the model says (a tiny model: not which language)
    assert any(
        text["continuations"]["steered"] != text["continuations"]["full"] for text in saved["texts"]
    )
    for name in ("steer.md", "steer.csv", "steer.png"):
        assert (tmp_path / "whole" / "ckpt" / name).stat().st_size > 0
    real, calls = HfEvaluator.greedy_batch, []

    def interrupted(*args, **kwargs):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(HfEvaluator, "greedy_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        steer(str(model), store, settings, out=tmp_path / "resumed")
    calls.clear()
    monkeypatch.setattr(
        HfEvaluator, "greedy_batch", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    assert steer(str(model), store, settings, out=tmp_path / "resumed") == whole
    # full per source, steered and random per pair, less the 3 finished
    assert len(calls) == 2 + 3 * 2 - 3
    assert not list((tmp_path / "resumed" / "ckpt").glob(".cells-*"))


def test_a_killed_steer_resumes_from_its_kept_cells_to_the_uninterrupted_table(
    analysed, tmp_path, caplog
) -> None:
    model, store, prompts = analysed
    settings = SteerSettings(targets=("fr", "zh"), prompts=str(prompts), max_new_tokens=6)
    whole = steer(str(model), store, settings, out=tmp_path / "whole")
    command = [sys.executable, "-m", "lfe", "steer", str(model), str(store), "--prompts"]
    command += [str(prompts), "--to", "fr,zh", "--max-new-tokens", "6", "--out"]
    # SIGKILL and Ctrl-C in turn; each run of three stops, a cell or two further on each time,
    # then resumed (a run has 8 cells)
    for run in range(0, STOPS, 3):
        out = tmp_path / f"stopped-{run}"
        for stop in range(run, min(run + 3, STOPS)):
            process = subprocess.Popen(
                [*command, str(out)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                preexec_fn=ctrl_c_heard,
            )
            deadline = time.monotonic() + 120
            while process.poll() is None and time.monotonic() < deadline:
                journals = list((out / "ckpt").glob(".cells-steer-*.jsonl"))
                if journals and journals[0].read_text().count('"key"') >= 1 + 2 * (stop - run):
                    break
                time.sleep(0.01)
            process.send_signal(signal.SIGKILL if stop % 2 == 0 else signal.SIGINT)
            errors = process.communicate()[1].decode()
            assert "Traceback" not in errors
            if stop % 2 == 1 and process.returncode:
                assert process.returncode == 130
                assert "interrupted: what was finished is kept" in errors
        [journal] = (out / "ckpt").glob(".cells-steer-*.jsonl")
        caplog.clear()
        with caplog.at_level("INFO", logger="lfe"):
            assert steer(str(model), store, settings, out=out) == whole
        [kept] = re.findall(r"resuming: (\d+) finished cells", caplog.text)
        assert int(kept) >= 1  # a line torn by a kill costs only its cell
        assert not journal.exists()


def test_steer_refuses_bad_input_in_one_line(analysed, tmp_path) -> None:
    model, store, prompts = analysed
    base = ["steer", str(model), str(store), "--prompts", str(prompts), "--max-new-tokens", "2"]
    german = write_tsv(tmp_path / "de.tsv", [("de", "p1", "die Katze")])
    for options, message in (
        (["--to", "de"], "--to de: no region for it"),
        (["--to", "fr", "--from", "de"], "has no prompt in de"),
        (["--to", "fr", "--method", "lape"], "run `lfe analyze --method lape`"),
        (["--to", ","], "--to ',' names nothing"),
        (["--to", "fr", "--max-new-tokens", "0"], "--max-new-tokens must be positive"),
        # generation would run on past the model's context (it ran for hours before)
        (["--to", "fr", "--max-new-tokens", str(2**31)], "lower --max-new-tokens"),
        (["--to", "fr", "--zero-source", "--prompts", str(german)], "--zero-source needs a region"),
    ):
        result = CliRunner().invoke(main, base + options)
        assert result.exit_code == 2, (options, result.output)
        assert message in result.output, (options, result.output)
        assert "Traceback" not in result.output, (options, result.output)
    malformed = {
        "empty.tsv": b"",
        "header.tsv": b"lang\tsid\ttext\n",
        "columns.tsv": b"language\tprompt\nen\tthe cat\n",
        "broken.jsonl": b'{"lang": "en", "sid": "1", "text": "the cat"\n',
        "list.jsonl": b'["en", "1", "the cat"]\n',
        "binary.tsv": bytes(range(256)),
        "empty-text.tsv": b"lang\tsid\ttext\nen\tp1\t\n",
    }
    for name, content in malformed.items():
        (tmp_path / name).write_bytes(content)
        result = CliRunner().invoke(main, [*base[:4], str(tmp_path / name), "--to", "fr"])
        assert result.exit_code == 2, (name, result.output)
        assert "Traceback" not in result.output, (name, result.output)
        assert len(result.output.strip().splitlines()) == 1, (name, result.output)
        assert name in result.output, (name, result.output)
    done = CliRunner().invoke(
        main, base + ["--to", "all", "--from", "fr", "--out", str(tmp_path / "o")]
    )
    assert done.exit_code == 0, done.output
    assert "fr -> zh:" in done.output
    assert "fr -> fr" not in done.output


def test_the_demo_reports_own_region_twin_and_the_median_of_the_other_regions() -> None:
    from lfe.records import FULL_MODEL, AblationSettings, AblationTable, SteerCell, SteerTable
    from lfe.report.causal import causal_section

    increase = {
        "en": {
            "en": 500.0,
            "fr": 10.0,
            "zh": 30.0,
            "random~en": 20.0,
            "random~fr": 1.0,
            "random~zh": 2.0,
        },
        "fr": {
            "en": 900.0,
            "fr": 200.0,
            "zh": 5.0,
            "random~en": 50.0,
            "random~fr": 3.0,
            "random~zh": 4.0,
        },
    }
    ablation = AblationTable(
        checkpoint="c",
        model="m",
        params=AblationSettings(window=64),
        tokens={"en": 9, "fr": 9},
        perplexity={lang: {FULL_MODEL: 10.0} for lang in increase},
        increase_percent=increase,
        region_size={name: 1 for name in increase["en"]},
        region_percent={name: 0.1 for name in increase["en"]},
        twins={"random~en": "en", "random~fr": "fr", "random~zh": "zh"},
    )
    shares = LanguageShares(target=0.7, source=0.2, other=0.1)
    steering = SteerTable(
        "c",
        "m",
        SteerSettings(targets=("fr",)),
        (SteerCell("en", "fr", 10, 3, shares, shares, shares),),
        "py3langid 0.4.0",
    )
    text = causal_section(ablation, steering, "a.md", "s.md")
    assert "| en | 10.00 | +500% | +20% | +20% |" in text  # median of fr's +10% and zh's +30%
    assert "| fr | 10.00 | +200% | +3% | +452% |" in text  # median of en's +900% and zh's +5%
    assert "| en | fr | 70% | 70% | 70% |" in text
