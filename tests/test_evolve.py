"""`lfe evolve` on series of synthetic stores with a planted trend: the trend comes back out."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from lfe.cli import main
from lfe.errors import LfeError
from lfe.evolve import evolve
from lfe.store import ActivationStore
from tests.analysis.test_metrics import planted

# Language separation falls and meaning alignment grows with the step: (alpha, beta) of each layer.
TREND = {0: ((3.0, 0.5), (2.0, 0.5)), 100: ((2.0, 1.0), (1.5, 1.0)), 1000: ((1.0, 2.0), (1.0, 1.5)),
         10000: ((0.5, 3.0), (0.5, 2.0))}


def planted_series(path, steps=TREND, names="global_step{}", params=1000, hashes=None):
    """A store with one checkpoint per step, rows h(l, s) = α u_l + β v_s per layer (see `planted`)."""
    n_langs = 6
    store = None
    for index, (step, layers) in enumerate(steps.items()):
        pooled, langs, sids = planted(n_langs=n_langs, n_sids=8, layers=layers, seed=index)
        if store is None:
            store = ActivationStore.create(path, {"fingerprint": "planted"}, langs, sids, ["t"] * len(langs))
        meta = {"weights_hash": hashes[index] if hashes else f"w{step}", "n_params": params, "series": "planted"}
        checkpoint = store.create_checkpoint(names.format(step), 2, 40, 16, "float32", np.ones(len(langs), np.int32), meta)
        for block in range(checkpoint.n_blocks):
            checkpoint.write_block(block, pooled[checkpoint.block_slice(block)].astype(np.float32))
    return path


def closed_form(layers):
    total = sum(a * a + b * b for a, b in layers)
    return sum(a * a for a, _ in layers) / total, sum(b * b for _, b in layers) / total


def test_evolve_recovers_a_planted_trend(tmp_path):
    store = planted_series(tmp_path / "run.zarr")
    rows = evolve([store], out=tmp_path / "evo", threshold=1.5, n_boot=20, say=lambda _: None)
    assert [row["step"] for row in rows] == sorted(TREND)
    for row in rows:
        lrds, sads = closed_form(TREND[row["step"]])
        assert row["lrds"] == pytest.approx(lrds, abs=1e-5)
        assert row["sads"] == pytest.approx(sads, abs=1e-5)
        assert row["lrds_low"] <= row["lrds"] <= row["lrds_high"]
        assert row["duplicate_of"] is None
    saved = json.loads((tmp_path / "evo" / "evolution.json").read_text())
    assert saved["trends"]["planted"]["lrds"] == pytest.approx(-1.0)
    assert saved["trends"]["planted"]["sads"] == pytest.approx(1.0)
    assert saved["params"]["threshold"] == 1.5 and saved["params"]["n_boot"] == 20
    for name in ("evolution.csv", "evolution.md", "evolution_alignment.png", "evolution_regions.png",
                 "evolution_layers.png"):
        assert (tmp_path / "evo" / name).stat().st_size > 0
    assert not (tmp_path / "evo" / "evolution_ablation.png").exists()  # no ablation was stored


def test_row_order_of_checkpoint_creation_does_not_matter(tmp_path):
    shuffled = {step: TREND[step] for step in (1000, 0, 10000, 100)}
    a = evolve([planted_series(tmp_path / "a.zarr")], out=tmp_path / "a", threshold=1.5, n_boot=0, figures=False,
               say=lambda _: None)
    b = evolve([planted_series(tmp_path / "b.zarr", shuffled)], out=tmp_path / "b", threshold=1.5, n_boot=0,
               figures=False, say=lambda _: None)
    assert [row["step"] for row in a] == [row["step"] for row in b]
    assert [row["lrds"] for row in a] == pytest.approx([row["lrds"] for row in b], abs=1e-6)


def test_duplicate_weights_are_flagged(tmp_path):
    store = planted_series(tmp_path / "run.zarr", hashes=["h0", "h1", "h1", "h3"])
    said = []
    rows = evolve([store], out=tmp_path / "evo", threshold=1.5, n_boot=0, figures=False, say=said.append)
    assert [row["duplicate_of"] for row in rows] == [None, None, f"{store}:global_step100", None]
    assert any("global_step1000 has the same weights as" in line for line in said)


def test_stored_analysis_is_reused_only_with_the_same_parameters(tmp_path):
    store = planted_series(tmp_path / "run.zarr")
    said = []
    evolve([store], out=tmp_path / "e1", threshold=1.5, n_boot=0, figures=False, say=said.append)
    evolve([store], out=tmp_path / "e2", threshold=1.5, n_boot=0, figures=False, say=said.append)
    evolve([store], out=tmp_path / "e3", threshold=1.2, n_boot=0, figures=False, say=said.append)
    assert [line.split(": ")[1].split(" of")[0] for line in said] == ["analysing 4", "analysing 4"]
    assert ActivationStore.open(store).analysis("global_step0").attrs["lfe"]["params"]["threshold"] == 1.2


def test_steps_from_options_and_errors(tmp_path):
    store = planted_series(tmp_path / "run.zarr", names="ckpt-{}-final", steps={7: TREND[0], 9: TREND[100]})
    named = evolve([store], out=tmp_path / "e", threshold=1.5, n_boot=0, figures=False, say=lambda _: None)
    assert [row["step"] for row in named] == [7, 9]
    odd = planted_series(tmp_path / "odd.zarr", names="main{}", steps={"": TREND[0], "-b": TREND[100]})
    with pytest.raises(LfeError, match="cannot tell the training step of main.*--step main=N"):
        evolve([odd], out=tmp_path / "o", threshold=1.5, n_boot=0, figures=False, say=lambda _: None)
    rows = evolve([odd], out=tmp_path / "o", steps={"main": 5, "main-b": 50}, threshold=1.5, n_boot=0, figures=False,
                  say=lambda _: None)
    assert [row["step"] for row in rows] == [5, 50]


def test_several_stores_by_parameter_count_through_the_cli(tmp_path):
    small = planted_series(tmp_path / "small.zarr", steps={100: TREND[0]}, params=1_000_000)
    large = planted_series(tmp_path / "large.zarr", steps={100: TREND[10000]}, params=7_000_000_000)
    result = CliRunner().invoke(main, ["evolve", str(small), str(large), "--x", "params", "--threshold", "1.5",
                                       "--bootstrap", "0", "--out", str(tmp_path / "sizes"), "--quiet"])
    assert result.exit_code == 0, result.output
    table = json.loads((tmp_path / "sizes" / "evolution.json").read_text())["rows"]
    assert {row["series"] for row in table} == {"small:planted", "large:planted"}
    by_size = sorted(table, key=lambda row: row["params"])
    assert by_size[0]["lrds"] > by_size[1]["lrds"] and by_size[0]["sads"] < by_size[1]["sads"]
    bad = CliRunner().invoke(main, ["evolve", str(small), "--step", "global_step100=abc"])
    assert bad.exit_code != 0 and "is not NAME=STEP" in bad.output


def test_stored_ablation_results_join_the_table(tmp_path):
    store = planted_series(tmp_path / "run.zarr", steps={10: TREND[0], 20: TREND[100]})
    opened = ActivationStore.open(store, mode="r+")
    for name, own in (("global_step10", 50.0), ("global_step20", 400.0)):
        opened.write_record("ablation", name, {
            "params": {"random": "matched", "seed": 0},
            "increase_percent": {"l0": {"l0": own, "random~l0": 2.0}, "l1": {"l1": own, "random~l1": 4.0}}})
    rows = evolve([store], out=tmp_path / "evo", threshold=1.5, n_boot=0, say=lambda _: None)
    assert [row["own_region_increase"] for row in rows] == [50.0, 400.0]
    assert [row["random_twin_increase"] for row in rows] == [3.0, 3.0]
    assert (tmp_path / "evo" / "evolution_ablation.png").exists()
