"""`lfe.open` and `lfe.tables`: labelled, lazy views of a store equal to what the store holds."""

import builtins
import json

import numpy as np
import pytest
import xarray as xr

import lfe
from lfe.errors import LfeError
from lfe.records import AnalysisSettings, PeerSettings
from lfe.store import ActivationStore
from lfe.workflows.analyze import analyze_store
from tests.helpers import planted_series

SETTINGS = AnalysisSettings(
    top_percent=10, n_boot=0, null=0, peers=PeerSettings(methods=("ap",), ap_top_k=5)
)


@pytest.fixture
def series(tmp_path):
    """Two checkpoints of 2 layers x 40 neurons, 6 languages x 8 sids; only the second analysed."""
    path = planted_series(
        tmp_path / "run.zarr", steps={0: ((3.0, 0.5), (2.0, 0.5)), 100: ((2.0, 1.0), (1.5, 1.0))}
    )
    analyze_store(
        path, settings=SETTINGS, checkpoint="global_step100", figures=False, progress=False
    )
    return path


def test_open_labels_every_axis_and_round_trips_the_store(series) -> None:
    ds = lfe.open(series)
    store = ActivationStore.open(series)
    langs, sids = store.labels()
    assert ds.pooled.dims == ("checkpoint", "sample", "neuron")
    assert ds.pooled.shape == (2, 48, 80)
    assert ds.pooled.chunks is not None  # lazy: Dask, read on demand
    assert list(ds.checkpoint.values) == ["global_step0", "global_step100"]
    assert list(ds.lang.values) == list(langs)
    assert list(ds.sid.values) == list(sids)
    assert list(ds.analysed.values) == [False, True]
    for name in ds.checkpoint.values:
        np.testing.assert_array_equal(
            ds.pooled.sel(checkpoint=name).values, store.checkpoint(name).pooled[:]
        )
    # each neuron's layer and index in it: selecting a layer gives that layer's columns
    layer_one = ds.pooled.sel(checkpoint="global_step0", layer=1)
    np.testing.assert_array_equal(layer_one.values, store.checkpoint("global_step0").pooled[:, 40:])
    assert list(layer_one.neuron_in_layer.values) == list(range(40))
    one_language = ds.pooled.sel(checkpoint="global_step0").where(ds.lang == langs[0], drop=True)
    np.testing.assert_array_equal(
        one_language.values, store.checkpoint("global_step0").pooled[:][langs == langs[0]]
    )
    # the analysis, labelled; NaN (False) where a checkpoint has none
    record, arrays = store.analysis("global_step100"), store.analysis_arrays("global_step100")
    assert list(ds.language.values) == list(record.languages)
    np.testing.assert_array_equal(
        ds.zscores.sel(checkpoint="global_step100").values, arrays.zscores
    )
    np.testing.assert_array_equal(
        ds.ap_regions.sel(checkpoint="global_step100").values, arrays.ap_regions
    )
    assert np.isnan(ds.zscores.sel(checkpoint="global_step0").values).all()
    assert not ds.regions.sel(checkpoint="global_step0").values.any()
    assert ds.key_neurons_per_layer.dims == ("checkpoint", "language", "layer_index")
    assert ds.lrds.sel(checkpoint="global_step100").item() == pytest.approx(record.whole.lrds)
    assert ds.sads_per_layer.sel(
        checkpoint="global_step100", layer_index=1
    ).item() == pytest.approx(record.layers[1].sads)
    assert json.loads(ds.attrs["analysis_params"])["global_step100"]["top_percent"] == 10
    assert "lape_regions" not in ds  # no analysis ran LAPE


def test_one_checkpoint_and_unknown_ones(series) -> None:
    ds = lfe.open(series, checkpoints="global_step0")
    assert list(ds.checkpoint.values) == ["global_step0"]
    assert "zscores" not in ds
    with pytest.raises(
        LfeError, match="has no checkpoint nope; it has global_step0, global_step100"
    ):
        lfe.open(series, checkpoints=["nope"])


def test_tables_are_dataframes_of_every_analysis(series) -> None:
    tables = lfe.tables(series)
    store = ActivationStore.open(series)
    record, arrays = store.analysis("global_step100"), store.analysis_arrays("global_step100")
    assert list(tables["whole"].checkpoint) == ["global_step100"]
    assert tables["whole"].lrds[0] == pytest.approx(record.whole.lrds)
    assert len(tables["layers"]) == 2
    assert set(tables["layers"].top_percent) == {10}
    regions = tables["regions"]
    assert (regions.method == "zscore").sum() == arrays.regions.sum()
    assert (regions.method == "ap").sum() == arrays.ap_regions.sum()
    key = tables["key_neurons"].query("language == @record.languages[0]")
    assert list(key.key_neurons) == record.key_neurons_per_layer[record.languages[0]]


def test_plain_xarray_sees_the_stores_named_dimensions(series) -> None:
    group = xr.open_zarr(series / "checkpoints" / "global_step0", consolidated=False)
    assert group.pooled.dims == ("sample", "neuron")
    assert group.done.dims == ("block",)
    np.testing.assert_array_equal(
        group.pooled.values, ActivationStore.open(series).checkpoint("global_step0").pooled[:]
    )


def test_without_xarray_a_one_line_error_names_the_extra(series, monkeypatch) -> None:
    real_import = builtins.__import__

    def no_xarray(name, *args, **kwargs):
        if name.split(".")[0] in ("xarray", "pandas"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_xarray)
    monkeypatch.setattr("importlib.import_module", lambda name: no_xarray(name))
    for call in (lfe.open, lfe.tables):
        with pytest.raises(
            LfeError,
            match=(
                r"needs (xarray|pandas), an optional dependency of lfe: pip install 'lfe\[xarray\]'"
            ),
        ):
            call(series)


def test_xarray_opens_a_store_with_the_lfe_engine(series, tmp_path) -> None:
    import zarr

    from lfe.workflows.xarray_backend import LfeBackendEntrypoint

    xr.testing.assert_identical(xr.open_dataset(series, engine="lfe"), lfe.open(series))
    assert "pooled" not in xr.open_dataset(series, engine="lfe", drop_variables=["pooled"])
    zarr.open_group(tmp_path / "plain.zarr", mode="w").attrs["other"] = 1
    assert LfeBackendEntrypoint().guess_can_open(series)
    # left to xarray's zarr engine
    assert not LfeBackendEntrypoint().guess_can_open(tmp_path / "plain.zarr")
    assert not LfeBackendEntrypoint().guess_can_open(tmp_path / "missing.zarr")


def _flip_a_chunk(folder) -> None:
    chunk = next(path for path in sorted(folder.rglob("*")) if path.is_file())
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))


def test_open_and_tables_on_empty_damaged_and_half_written_stores(series, tmp_path) -> None:
    empty = planted_series(tmp_path / "empty.zarr")  # extracted, never analysed
    tables = lfe.tables(empty)
    assert tables["whole"].empty
    assert "checkpoint" in tables["whole"].columns  # empty tables keep their columns
    assert "sads" in tables["layers"].columns
    # a flipped chunk is found when a lazy read reaches it: one error naming the repair
    _flip_a_chunk(series / "analysis" / "global_step100" / "similarity" / "c")
    with pytest.raises(
        LfeError, match="analysis of checkpoint 'global_step100' .* damaged .*analyze"
    ):
        lfe.open(series).load()
    with pytest.raises(LfeError, match="run `lfe analyze` on the store again"):
        lfe.tables(series)
    _flip_a_chunk(empty / "checkpoints" / "global_step100" / "pooled" / "c")
    rows = lfe.open(empty, "global_step100").pooled
    with pytest.raises(LfeError, match="global_step100' of .* is damaged .*`lfe check --repair"):
        rows.load()
    # a checkpoint still being extracted is left out, or refused when named
    half = planted_series(tmp_path / "half.zarr")
    ActivationStore.open(half, mode="r+").checkpoint("global_step100").done[0] = False
    assert "global_step100" not in lfe.open(half).checkpoint.values
    with pytest.raises(LfeError, match="'global_step100' is incomplete \\(2/3 blocks\\)"):
        lfe.open(half, "global_step100")
