"""`lfe ablate` end to end on a tiny model: extract, analyze, deactivate, table and files."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from lfe.ablate import FULL, ablate
from lfe.analyze import analyze_store
from lfe.cli import main
from lfe.corpus import read_corpus
from lfe.engine import extract
from lfe.errors import StoreError
from tests.conftest import parallel_rows, write_tsv


@pytest.fixture
def analysed(tiny_models, tmp_path):
    rows = parallel_rows(langs=("en", "fr", "zh", "hi", "ar", "es"), n_sids=10)
    corpus = read_corpus(write_tsv(tmp_path / "c.tsv", rows))
    model = tiny_models("llama", size="small")
    extract(str(model), corpus, tmp_path / "run.zarr", name="ckpt", progress=False)
    analyze_store(tmp_path / "run.zarr", top_percent=2, n_boot=0, figures=False, progress=False)
    held = tmp_path / "held"
    held.mkdir()
    for lang in ("en", "fr", "zh", "hi", "ar", "es"):
        (held / f"{lang}.txt").write_text("\n".join(t for l, _, t in parallel_rows(langs=(lang,), n_sids=6, seed=9)))
    return model, tmp_path / "run.zarr", held


def test_table_compares_every_region_with_the_full_model_on_the_same_windows(analysed, tmp_path):
    model, store, held = analysed
    results = ablate(str(model), store, held, window=64, out=tmp_path / "out", say=lambda text: None)
    row = results["perplexity"]["fr"]
    assert set(row) == {FULL, "en", "fr", "zh", "hi", "ar", "es", *[f"random~{l}" for l in ("en", "fr", "zh", "hi", "ar", "es")]}
    for lang, increases in results["increase_percent"].items():
        for name, value in increases.items():
            assert value == pytest.approx(100 * (results["perplexity"][lang][name] / results["perplexity"][lang][FULL] - 1))
    assert results["region_size"]["fr"] == results["region_size"]["random~fr"] > 0
    assert results["params"]["seed"] == 0 and results["params"]["random"] == "matched"
    folder = tmp_path / "out" / "ckpt"
    assert json.loads((folder / "table.json").read_text())["tokens"]["en"] > 0
    assert (folder / "table.png").read_bytes()[:4] == b"\x89PNG" and "| fr |" in (folder / "table.md").read_text()
    assert any(abs(v) > 0 for v in results["increase_percent"]["fr"].values())


def test_another_model_is_refused(analysed, tiny_models, tmp_path):
    _, store, held = analysed
    with pytest.raises(StoreError, match="weights hash differs"):
        ablate(str(tiny_models("llama", size="small", seed=3)), store, held, say=lambda text: None)


def test_cli_ablate_with_layer_matched_controls(analysed, tmp_path):
    model, store, held = analysed
    result = CliRunner().invoke(main, ["ablate", str(model), str(store), "--eval", str(held), "--regions", "en,zh",
                                       "--random", "layer-matched", "--window", "32", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    table = json.loads((tmp_path / "o" / "ckpt" / "table.json").read_text())
    assert set(table["region_size"]) == {"en", "zh", "layer-random~en", "layer-random~zh"}
    bad = CliRunner().invoke(main, ["ablate", str(model), str(store), "--eval", str(held), "--regions", "de"])
    assert bad.exit_code == 1 and "no key region for de" in bad.output


def test_generations_and_a_warning_when_evaluation_text_was_probed(analysed, tmp_path):
    model, store, held = analysed
    prompts = write_tsv(tmp_path / "prompts.tsv", [("en", "p1", "the cat"), ("fr", "p1", "le chat")])
    probed = write_tsv(tmp_path / "probed.tsv", parallel_rows(langs=("en", "fr", "zh", "hi", "ar", "es"), n_sids=3))
    with pytest.warns(UserWarning, match=r"3 evaluation sids were also probed"):
        results = ablate(str(model), store, probed, regions="fr", window=32, generate=prompts, max_new_tokens=4,
                         out=tmp_path / "g", say=lambda text: None)
    [first, _] = results["generations"]
    assert set(first) == {"lang", "sid", "prompt", FULL, "fr", "random~fr"}
    assert all(isinstance(first[name], str) for name in (FULL, "fr", "random~fr"))
    assert "## Greedy generations" in (tmp_path / "g" / "ckpt" / "table.md").read_text()
