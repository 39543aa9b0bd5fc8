"""`lfe export`: the regions as a tidy CSV and as LAPE's activation_mask, equal to the stored regions."""

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


def test_regions_export_as_a_tidy_table_and_as_lapes_activation_mask(tmp_path):
    store = planted_series(tmp_path / "run.zarr", steps={0: ((3.0, 0.5), (2.0, 0.5))})
    analyze_store(store, settings=AnalysisSettings(top_percent=10, n_boot=0, null=0, peers=PeerSettings(methods=("ap",),
                                                                                                          ap_top_k=5)),
                  figures=False, progress=False)
    opened = ActivationStore.open(store)
    record, arrays = opened.analysis("global_step0"), opened.analysis_arrays("global_step0")
    table = CliRunner().invoke(main, ["export", str(store), "--regions", "csv", "--out", str(tmp_path / "r.csv")])
    assert table.exit_code == 0, table.output
    rows = list(csv.DictReader(open(tmp_path / "r.csv", encoding="utf-8")))
    assert len(rows) == int(arrays.regions.sum()) and {row["method"] for row in rows} == {"zscore"}
    first = rows[0]
    lang, k = record.languages.index(first["language"]), 40 * int(first["layer"]) + int(first["neuron"])
    assert arrays.regions[lang, k] and float(first["score"]) == float(arrays.zscores[lang, k])
    mask = CliRunner().invoke(main, ["export", str(store), "--regions", "lape", "--method", "ap",
                                     "--out", str(tmp_path / "mask" / "planted")])
    assert mask.exit_code == 0, mask.output
    loaded = torch.load(tmp_path / "mask" / "planted")
    order = json.loads((tmp_path / "mask" / "planted.languages.json").read_text())["languages"]
    assert order == list(record.languages) and len(loaded) == 6 and len(loaded[0]) == 2
    for index, per_layer in enumerate(loaded):
        rebuilt = np.zeros(80, bool)
        for layer, neurons in enumerate(per_layer):
            assert neurons.dtype == torch.long
            rebuilt[40 * layer + neurons.numpy()] = True
        np.testing.assert_array_equal(rebuilt, arrays.regions_of("ap")[index])
    missing = CliRunner().invoke(main, ["export", str(store), "--regions", "csv", "--method", "lape"])
    assert missing.exit_code == 2 and "run `lfe analyze --method lape`" in missing.output


def test_new_stores_name_every_arrays_dimensions_for_xarray(tmp_path):
    import zarr

    store = planted_series(tmp_path / "run.zarr", steps={0: ((3.0, 0.5), (2.0, 0.5))})
    analyze_store(store, settings=AnalysisSettings(top_percent=10, n_boot=0, null=0), figures=False, progress=False)
    root = zarr.open_group(store, mode="r")
    named = {path: array.metadata.dimension_names for path, array in root.arrays()}
    named.update({f"{group}/{path}": array.metadata.dimension_names
                  for group in ("corpus", "checkpoints/global_step0", "analysis/global_step0")
                  for path, array in root[group].arrays()})
    assert named["checkpoints/global_step0/pooled"] == ("sample", "neuron")
    assert named["analysis/global_step0/zscores"] == ("language", "neuron")
    assert named["corpus/lang"] == ("sample",)
    assert all(names is not None for path, names in named.items() if "/" in path), named
