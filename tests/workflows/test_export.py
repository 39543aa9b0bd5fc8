"""`lfe export`: the regions as a tidy CSV and as LAPE's activation_mask, equal to the stored
regions."""

import csv
import json

import numpy as np
import torch
from click.testing import CliRunner

from lfe.cli import main
from lfe.records import AnalysisSettings, PeerSettings
from lfe.store import ActivationStore
from lfe.workflows.analyze import analyze_store
from tests.helpers import planted_series


def test_regions_export_as_a_tidy_table_and_as_lapes_activation_mask(tmp_path) -> None:
    store = planted_series(tmp_path / "run.zarr", steps={0: ((3.0, 0.5), (2.0, 0.5))})
    analyze_store(
        store,
        settings=AnalysisSettings(
            top_percent=10, n_boot=0, null=0, peers=PeerSettings(methods=("ap",), ap_top_k=5)
        ),
        figures=False,
        progress=False,
    )
    opened = ActivationStore.open(store)
    record, arrays = opened.analysis("global_step0"), opened.analysis_arrays("global_step0")
    table = CliRunner().invoke(
        main, ["export", str(store), "--regions", "csv", "--out", str(tmp_path / "r.csv")]
    )
    assert table.exit_code == 0, table.output
    rows = list(csv.DictReader(open(tmp_path / "r.csv", encoding="utf-8")))
    assert len(rows) == int(arrays.regions.sum())
    assert {row["method"] for row in rows} == {"zscore"}
    first = rows[0]
    lang, k = (
        record.languages.index(first["language"]),
        40 * int(first["layer"]) + int(first["neuron"]),
    )
    assert arrays.regions[lang, k]
    assert float(first["score"]) == float(arrays.zscores[lang, k])
    mask = CliRunner().invoke(
        main,
        [
            "export",
            str(store),
            "--regions",
            "lape",
            "--method",
            "ap",
            "--out",
            str(tmp_path / "mask" / "planted"),
        ],
    )
    assert mask.exit_code == 0, mask.output
    loaded = torch.load(tmp_path / "mask" / "planted")
    order = json.loads((tmp_path / "mask" / "planted.languages.json").read_text())["languages"]
    assert order == list(record.languages)
    assert len(loaded) == 6
    assert len(loaded[0]) == 2
    for index, per_layer in enumerate(loaded):
        rebuilt = np.zeros(80, bool)
        for layer, neurons in enumerate(per_layer):
            assert neurons.dtype == torch.long
            rebuilt[40 * layer + neurons.numpy()] = True
        np.testing.assert_array_equal(rebuilt, arrays.regions_of("ap")[index])
    as_parquet = CliRunner().invoke(
        main, ["export", str(store), "--regions", "parquet", "--out", str(tmp_path / "r.parquet")]
    )
    assert as_parquet.exit_code == 0, as_parquet.output
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "r.parquet").to_pylist()
    # the CSV's rows, typed
    assert [{key: str(value) for key, value in row.items()} for row in table] == rows
    missing = CliRunner().invoke(
        main, ["export", str(store), "--regions", "csv", "--method", "lape"]
    )
    assert missing.exit_code == 2
    assert "run `lfe analyze --method lape`" in missing.output


def test_new_stores_name_every_arrays_dimensions_for_xarray(tmp_path) -> None:
    import zarr

    store = planted_series(tmp_path / "run.zarr", steps={0: ((3.0, 0.5), (2.0, 0.5))})
    analyze_store(
        store,
        settings=AnalysisSettings(top_percent=10, n_boot=0, null=0),
        figures=False,
        progress=False,
    )
    root = zarr.open_group(store, mode="r")
    named = {path: array.metadata.dimension_names for path, array in root.arrays()}
    named.update(
        {
            f"{group}/{path}": array.metadata.dimension_names
            for group in ("corpus", "checkpoints/global_step0", "analysis/global_step0")
            for path, array in root[group].arrays()
        }
    )
    assert named["checkpoints/global_step0/pooled"] == ("sample", "neuron")
    assert named["analysis/global_step0/zscores"] == ("language", "neuron")
    assert named["corpus/lang"] == ("sample",)
    assert all(names is not None for path, names in named.items() if "/" in path), named


def test_a_lape_mask_is_imported_as_the_lape_regions_and_round_trips(tmp_path) -> None:
    store = planted_series(tmp_path / "run.zarr", steps={0: ((3.0, 0.5), (2.0, 0.5))})
    analyze_store(
        store,
        settings=AnalysisSettings(top_percent=10, n_boot=0, null=0),
        figures=False,
        progress=False,
    )
    runner = CliRunner()
    exported = runner.invoke(
        main, ["export", str(store), "--regions", "lape", "--out", str(tmp_path / "mask")]
    )
    assert exported.exit_code == 0, exported.output
    # the order from mask.languages.json
    imported = runner.invoke(main, ["import", str(store), str(tmp_path / "mask")])
    assert imported.exit_code == 0, imported.output
    opened = ActivationStore.open(store)
    record, arrays = opened.analysis("global_step0"), opened.analysis_arrays("global_step0")
    # the z-score regions, back as LAPE's
    np.testing.assert_array_equal(arrays.regions_of("lape"), arrays.regions)
    assert record.methods["lape"].source == str(tmp_path / "mask")
    assert record.methods["lape"].region_sizes == record.region_sizes
    assert all(value == 1.0 for value in record.agreement.jaccard["zscore-lape"].values())
    # LAPE's probabilities were never computed here: unknown
    assert np.isnan(arrays.scores_of("lape")).all()

    # LAPE's own file has no names: the order is given, a subset of the languages in another order
    langs = list(record.languages)
    mask = [[torch.tensor([layer]) for layer in range(2)] for _ in langs[:2]]
    torch.save(mask, tmp_path / "theirs")
    ok = runner.invoke(
        main,
        ["import", str(store), str(tmp_path / "theirs"), "--languages", f"{langs[1]},{langs[0]}"],
    )
    assert ok.exit_code == 0, ok.output
    regions = ActivationStore.open(store).analysis_arrays("global_step0").regions_of("lape")
    assert regions.sum() == 4
    assert regions[1, [0, 41]].all()
    assert not regions[2:].any()
    for args, message in (
        ([], "holds no language names and theirs.languages.json is not beside it"),
        (["--languages", "xx,yy"], "has no language xx, yy"),
        (["--languages", langs[0]], "has 2 languages' regions but 1 names were given"),
    ):
        bad = runner.invoke(main, ["import", str(store), str(tmp_path / "theirs"), *args])
        assert bad.exit_code == 2, bad.output
        assert message in bad.output, bad.output
    torch.save([[torch.tensor([40]), torch.tensor([0])]], tmp_path / "wide")
    outside = runner.invoke(
        main, ["import", str(store), str(tmp_path / "wide"), "--languages", langs[0]]
    )
    assert outside.exit_code == 2
    assert "layer 0: neuron indices outside 0..39" in outside.output
    (tmp_path / "junk").write_text("not a tensor")
    junk = runner.invoke(
        main, ["import", str(store), str(tmp_path / "junk"), "--languages", langs[0]]
    )
    assert junk.exit_code == 2
    assert "is not a torch.save file" in junk.output


def _lists(make) -> list:
    """A mask of six languages x two layers, each layer's entry made by ``make(layer)``."""
    return [[make(layer) for layer in range(2)] for _ in range(6)]


MALFORMED_MASKS = {
    "a number": (5, "holds a int, not LAPE's activation_mask"),
    "a dict": ({"en": [0]}, "holds a dict, not LAPE's activation_mask"),
    "one tensor": (torch.zeros(6, 2, 3), "holds a Tensor, not LAPE's activation_mask"),
    "no layers": ([torch.tensor([1])] * 6, "each language needs a list of 2 index tensors"),
    "ragged lists": (_lists(lambda layer: [1, [2]]), "layer 0: not a one-dimensional tensor"),
    "strings": (_lists(lambda layer: "12"), "layer 0: not a one-dimensional tensor"),
    "float indices": (_lists(lambda layer: torch.tensor([1.5])), "of torch.float32"),
    "a boolean mask": (_lists(lambda layer: torch.tensor([True, False])), "of torch.bool"),
    "a matrix": (_lists(lambda layer: torch.tensor([[1, 2]])), "not a one-dimensional tensor"),
    "negative": (_lists(lambda layer: torch.tensor([-1])), "neuron indices outside 0..39"),
}


def test_malformed_lape_masks_are_refused_in_one_line_naming_file_and_place(tmp_path) -> None:
    store = planted_series(tmp_path / "run.zarr", steps={0: ((3.0, 0.5), (2.0, 0.5))})
    analyze_store(store, settings=AnalysisSettings(n_boot=0, null=0), progress=False, figures=False)
    langs = ",".join(ActivationStore.open(store).analysis("global_step0").languages)
    runner = CliRunner()

    def refused(mask, *args: str) -> str:
        result = runner.invoke(main, ["import", str(store), str(mask), *args])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
        return result.output

    for kind, (content, message) in MALFORMED_MASKS.items():
        mask = tmp_path / f"{kind}.pt"
        torch.save(content, mask)
        output = refused(mask, "--languages", langs)
        assert message in output, (kind, output)
        assert str(mask) in output
    good = tmp_path / "good.pt"
    torch.save(_lists(lambda layer: torch.tensor([layer])), good)
    first = langs.split(",")[0]
    assert "name " + first + " more than once" in refused(
        good, "--languages", f"{first}," * 5 + first
    )
    order = tmp_path / "good.pt.languages.json"
    for written in ("{broken", "[]", '{"languages": "en"}', '{"languages": [1, 2]}'):
        order.write_text(written)
        assert f"{order} is damaged or not lfe's" in refused(good)
    # another model's mask: lfe recorded the model's shape beside it
    order.write_text(json.dumps({"languages": langs.split(","), "n_layers": 2, "n_neurons": 4096}))
    assert "made for 2 layers x 4096 neurons" in refused(good)
    stored = ActivationStore.open(store).analysis("global_step0")
    assert "lape" not in stored.methods  # nothing refused was kept
