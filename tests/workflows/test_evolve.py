"""`lfe evolve` on series of synthetic stores with a planted trend: the trend comes back out."""

import csv
import json
import logging
from dataclasses import replace

import pytest
from click.testing import CliRunner

from lfe.analysis.evolution import spearman
from lfe.cli import main
from lfe.errors import LfeError
from lfe.records import (
    FULL_MODEL,
    AblationSettings,
    AblationTable,
    AnalysisSettings,
    EvolutionSettings,
    ExtractSettings,
)
from lfe.store import ActivationStore
from lfe.workflows.evolve import evolve
from tests.helpers import TREND, closed_form, planted_series


def run(stores, out, threshold=1.5, n_boot=0, **options):
    settings = EvolutionSettings(
        stores=tuple(str(store) for store in stores),
        analysis=AnalysisSettings(threshold=threshold, n_boot=n_boot),
    )
    return evolve(settings, out=out, progress=False, **options)


def test_evolve_recovers_a_planted_trend(tmp_path) -> None:
    store = planted_series(tmp_path / "run.zarr")
    rows = run([store], tmp_path / "evo", n_boot=20)
    assert [row.step for row in rows] == sorted(TREND)
    for row in rows:
        lrds, sads = closed_form(TREND[row.step])
        assert row.lrds == pytest.approx(lrds, abs=1e-5)
        assert row.sads == pytest.approx(sads, abs=1e-5)
        assert row.lrds_low <= row.lrds <= row.lrds_high
        assert row.duplicate_of is None
    saved = json.loads((tmp_path / "evo" / "evolution.json").read_text())
    assert saved["trends"]["planted"]["lrds"] == pytest.approx(-1.0)
    assert saved["trends"]["planted"]["sads"] == pytest.approx(1.0)
    assert saved["params"]["analysis"]["threshold"] == 1.5
    assert saved["params"]["analysis"]["n_boot"] == 20
    for name in (
        "evolution.csv",
        "evolution.md",
        "evolution_alignment.png",
        "evolution_regions.png",
        "evolution_layers.png",
    ):
        assert (tmp_path / "evo" / name).stat().st_size > 0
    assert not (tmp_path / "evo" / "evolution_ablation.png").exists()  # no ablation was stored


def test_row_order_of_checkpoint_creation_does_not_matter(tmp_path) -> None:
    shuffled = {step: TREND[step] for step in (1000, 0, 10000, 100)}
    a = run([planted_series(tmp_path / "a.zarr")], tmp_path / "a", figures=False)
    b = run([planted_series(tmp_path / "b.zarr", shuffled)], tmp_path / "b", figures=False)
    assert [row.step for row in a] == [row.step for row in b]
    assert [row.lrds for row in a] == pytest.approx([row.lrds for row in b], abs=1e-6)


def test_duplicate_weights_are_flagged(tmp_path, caplog) -> None:
    store = planted_series(tmp_path / "run.zarr", hashes=["h0", "h1", "h1", "h3"])
    rows = run([store], tmp_path / "evo", figures=False)
    assert [row.duplicate_of for row in rows] == [None, None, f"{store}:global_step100", None]
    assert "global_step1000 has the same weights as" in caplog.text


def test_stored_analysis_is_reused_only_with_the_same_parameters(tmp_path, caplog) -> None:
    store = planted_series(tmp_path / "run.zarr")
    with caplog.at_level(logging.INFO, logger="lfe"):
        run([store], tmp_path / "e1", figures=False)
        run([store], tmp_path / "e2", figures=False)
        run([store], tmp_path / "e3", threshold=1.2, figures=False)
    said = [record.getMessage() for record in caplog.records if "analysing" in record.getMessage()]
    assert [line.split(": ")[1].split(" of")[0] for line in said] == ["analysing 4", "analysing 4"]
    opened = ActivationStore.open(store, mode="r+")
    assert opened.analysis("global_step0").params.threshold == 1.2
    # rows extracted another way since (same weights): that analysis is stale too
    stale = replace(
        opened.analysis("global_step0"), checkpoint_settings=ExtractSettings(special_tokens="none")
    )
    opened.write_analysis("global_step0", stale, opened.analysis_arrays("global_step0"))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="lfe"):
        run([store], tmp_path / "e4", threshold=1.2, figures=False)
    assert "analysing 1 of 4 checkpoints" in caplog.text


def test_steps_from_options_and_errors(tmp_path) -> None:
    store = planted_series(
        tmp_path / "run.zarr", names="ckpt-{}-final", steps={7: TREND[0], 9: TREND[100]}
    )
    named = run([store], tmp_path / "e", figures=False)
    assert [row.step for row in named] == [7, 9]
    odd = planted_series(
        tmp_path / "odd.zarr", names="main{}", steps={"": TREND[0], "-b": TREND[100]}
    )
    with pytest.raises(LfeError, match="cannot tell the training step of main.*steps main=N"):
        run([odd], tmp_path / "o", figures=False)
    rows = run([odd], tmp_path / "o", steps={"main": 5, "main-b": 50}, figures=False)
    assert [row.step for row in rows] == [5, 50]
    with pytest.raises(
        LfeError, match="steps names no checkpoint of the stores: nope; they have main, main-b"
    ):
        run([odd], tmp_path / "o", steps={"main": 5, "main-b": 50, "nope": 7}, figures=False)
    with pytest.raises(LfeError, match="x 'size' is not one of step, params"):
        EvolutionSettings(stores=(str(store),), x="size")


def test_several_stores_by_parameter_count_through_the_cli(tmp_path) -> None:
    small = planted_series(tmp_path / "small.zarr", steps={100: TREND[0]}, params=1_000_000)
    large = planted_series(tmp_path / "large.zarr", steps={100: TREND[10000]}, params=7_000_000_000)
    result = CliRunner().invoke(
        main,
        [
            "evolve",
            str(small),
            str(large),
            "--x",
            "params",
            "--threshold",
            "1.5",
            "--bootstrap",
            "0",
            "--out",
            str(tmp_path / "sizes"),
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    table = json.loads((tmp_path / "sizes" / "evolution.json").read_text())["rows"]
    assert {row["series"] for row in table} == {"small:planted", "large:planted"}
    by_size = sorted(table, key=lambda row: row["params"])
    assert by_size[0]["lrds"] > by_size[1]["lrds"]
    assert by_size[0]["sads"] < by_size[1]["sads"]
    bad = CliRunner().invoke(main, ["evolve", str(small), "--step", "global_step100=abc"])
    assert bad.exit_code != 0
    assert "is not NAME=STEP" in bad.output


def _ablation(own: float, analysis: AnalysisSettings) -> AblationTable:
    increase = {"l0": {"l0": own, "random~l0": 2.0}, "l1": {"l1": own, "random~l1": 4.0}}
    return AblationTable(
        checkpoint="c",
        model="m",
        params=AblationSettings(analysis=analysis),
        tokens={"l0": 9, "l1": 9},
        perplexity={lang: {FULL_MODEL: 10.0, **row} for lang, row in increase.items()},
        increase_percent=increase,
        region_size=dict.fromkeys(["l0", "l1", "random~l0", "random~l1"], 3),
        region_percent=dict.fromkeys(["l0", "l1", "random~l0", "random~l1"], 1.0),
        twins={"random~l0": "l0", "random~l1": "l1"},
        choice_accuracy={"l0": {FULL_MODEL: 0.5, "l0": 0.25}, "l1": {FULL_MODEL: 1.0, "l1": 0.5}},
    )


def test_stored_ablation_results_join_the_table_only_when_made_from_the_same_regions(
    tmp_path, caplog
) -> None:
    store = planted_series(tmp_path / "run.zarr", steps={10: TREND[0], 20: TREND[100]})
    opened = ActivationStore.open(store, mode="r+")
    for name, own in (("global_step10", 50.0), ("global_step20", 400.0)):
        opened.write_ablation(name, _ablation(own, AnalysisSettings(threshold=1.5, n_boot=0)))
    rows = run([store], tmp_path / "evo")
    assert [row.own_region_increase for row in rows] == [50.0, 400.0]
    assert [row.random_twin_increase for row in rows] == [3.0, 3.0]
    assert [row.choice_accuracy_full for row in rows] == [0.75, 0.75]
    assert (tmp_path / "evo" / "evolution_ablation.png").exists()
    # regions of another threshold: left out, said why
    other = run([store], tmp_path / "other", threshold=1.2)
    assert [row.own_region_increase for row in other] == [None, None]
    assert "deactivated regions of another analysis (z > 1.5, now z > 1.2)" in caplog.text


def test_every_row_stands_next_to_its_checkpoints_own_chance_level(tmp_path) -> None:
    store = planted_series(tmp_path / "run.zarr")
    rows = run([store], tmp_path / "evo")
    opened = ActivationStore.open(store)
    for row in rows:
        record = opened.analysis(row.checkpoint)
        # the analysis's own nulls, reused
        assert row.lrds_null == record.whole.lrds_null
        assert row.sads_null == record.whole.sads_null
        assert row.sklr_null == record.region_null.sklr_percent
        assert row.region_null == record.region_null.region_percent
        assert row.lrds_above_chance == pytest.approx(row.lrds - row.lrds_null.mean)
        assert row.sklr_above_chance == pytest.approx(row.sklr_percent - row.sklr_null.mean)
        for lang, null in row.region_null.items():
            assert row.region_above_chance[lang] == pytest.approx(
                row.region_percent[lang] - null.mean
            )
    # the planted language signal stands above chance at every step
    assert all(row.lrds > row.lrds_null.p95 for row in rows)
    with open(tmp_path / "evo" / "evolution.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    lang = rows[0].languages[0]
    assert float(table[0]["lrds_null_p95"]) == pytest.approx(rows[0].lrds_null.p95)
    assert float(table[0]["sklr_p"]) == pytest.approx(rows[0].sklr_null.p_value)
    assert float(table[0][f"region_null_p95_{lang}"]) == pytest.approx(
        rows[0].region_null[lang].p95
    )
    saved = json.loads((tmp_path / "evo" / "evolution.json").read_text())
    trend = saved["trends"]["planted"]
    assert trend["lrds_above_chance"] == pytest.approx(
        spearman([row.step for row in rows], [row.lrds_above_chance for row in rows])
    )
    report = (tmp_path / "evo" / "evolution.md").read_text()
    assert f"{rows[0].lrds_null.mean:.4f} / {rows[0].lrds_null.p95:.4f}" in report
    assert (
        f"{rows[0].region_percent[lang]:.2f} (chance {rows[0].region_null[lang].p95:.2f}" in report
    )


def test_rows_of_an_analysis_without_a_null_say_so(tmp_path) -> None:
    store = planted_series(tmp_path / "run.zarr")
    settings = EvolutionSettings(
        stores=(str(store),), analysis=AnalysisSettings(threshold=1.5, n_boot=0, null=0)
    )
    rows = evolve(settings, out=tmp_path / "evo", progress=False)
    assert all(row.lrds_null is None for row in rows)
    assert all(row.sklr_above_chance is None for row in rows)
    assert all(row.region_null == {} for row in rows)
    assert "| - |" in (tmp_path / "evo" / "evolution.md").read_text()
