"""Records: every one round-trips through JSON, and the dicts an older lfe wrote still read."""

import json

import pytest

from lfe.errors import LfeError, SettingsError
from lfe.records import (
    FULL_MODEL,
    AblationSettings,
    AblationTable,
    Agreement,
    Alignment,
    AnalysisRecord,
    AnalysisSettings,
    CheckpointMeta,
    EvolutionRow,
    EvolutionSettings,
    ExtractSettings,
    Generation,
    LanguageShares,
    MethodRegions,
    ModelSource,
    NullSummary,
    PeerSettings,
    RegionNull,
    SteerCell,
    SteeredText,
    SteerSettings,
    SteerTable,
)

ANALYSIS = AnalysisSettings(threshold=1.5, n_boot=10, seed=3)
RECORDS = [
    ModelSource("hub", "bigscience/bloom-560m", "global_step1000"),
    ExtractSettings(batch_tokens=256, dtype="bfloat16", store_dtype="float16", block_rows=64),
    CheckpointMeta(
        n_layers=2,
        n_neurons=8,
        block_rows=4,
        source=ModelSource("local", "/m"),
        settings=ExtractSettings(max_tokens=9),
        weights_hash="w",
        n_params=10,
        step=3,
    ),
    ANALYSIS,
    AnalysisSettings(top_percent=5),
    AnalysisRecord(
        params=ANALYSIS,
        languages=("en", "fr"),
        n_sids=4,
        whole=Alignment(0.1, 0.2, 0.0, 0.3, 0.1, 0.4),
        layers=(Alignment(0.1, 0.2), Alignment(0.3, 0.4)),
        sklr=3,
        sklr_percent=18.75,
        region_sizes={"en": 2, "fr": 1},
        region_percent={"en": 12.5, "fr": 6.25},
        key_neurons_per_layer={"en": [1, 1], "fr": [0, 1]},
        overlap=[[2, 0], [0, 1]],
        n_layers=2,
        n_neurons=8,
        checkpoint="c",
    ),
    RegionNull(
        sklr_percent=NullSummary(30.0, 36.0, 0.01, 100, "shuffled"),
        region_percent={"en": NullSummary(3.0, 4.0, 0.5, 100, "shuffled")},
        neurons_sampled=8192,
    ),
    AblationSettings(
        regions=("en",),
        random="layer-matched",
        seed=2,
        window=64,
        choice="c.jsonl",
        analysis=ANALYSIS,
    ),
    AblationTable(
        checkpoint="c",
        model="m",
        params=AblationSettings(analysis=ANALYSIS),
        tokens={"en": 5},
        perplexity={"en": {FULL_MODEL: 2.0, "en": 4.0, "random~en": 2.5}},
        increase_percent={"en": {"en": 100.0, "random~en": 25.0}},
        region_size={"en": 3, "random~en": 3},
        region_percent={"en": 1.0, "random~en": 1.0},
        twins={"random~en": "en"},
        choice_accuracy={"en": {FULL_MODEL: 0.5, "en": 0.25, "random~en": 0.5}},
    ),
    Generation(
        "en", "p1", "the cat", {FULL_MODEL: "sat", "en": "??"}, {FULL_MODEL: "en", "en": "none"}
    ),
    AnalysisSettings(peers=PeerSettings(methods=("lape", "ap"), ap_top_k=5)),
    AnalysisRecord(
        params=AnalysisSettings(peers=PeerSettings(methods=("ap",))),
        languages=("en", "fr"),
        n_sids=4,
        whole=Alignment(0.1, 0.2),
        layers=(),
        sklr=3,
        sklr_percent=18.75,
        region_sizes={"en": 2, "fr": 1},
        region_percent={"en": 12.5, "fr": 6.25},
        key_neurons_per_layer={"en": [1, 1], "fr": [0, 1]},
        overlap=[[2, 0], [0, 1]],
        methods={
            "ap": MethodRegions(
                "ap",
                {"en": 1, "fr": 1},
                {"en": 6.25, "fr": 6.25},
                {"en": [1, 0], "fr": [0, 1]},
                {"en": 0.9, "fr": 0.8},
                {"en": NullSummary(0.3, 0.4, 0.05, 20, "s")},
                "AP",
                16,
            )
        },
        agreement=Agreement(
            {"zscore-ap": {"en": 0.5, "fr": 0.0}}, {"zscore-ap": {"en": 0.1, "fr": 0.06}}
        ),
    ),
    SteerTable(
        checkpoint="c",
        model="m",
        params=SteerSettings(targets=("fr",), prompts="p.tsv", zero_source=True, analysis=ANALYSIS),
        cells=(
            SteerCell(
                "en",
                "fr",
                2,
                7,
                LanguageShares(target=0.0, source=1.0, other=0.0),
                LanguageShares(target=0.5, source=0.5, other=0.0),
                LanguageShares(target=0.0, source=1.0, other=0.0),
            ),
        ),
        language_id="py3langid 0.4.0",
        special_tokens="exclude",
    ),
    SteeredText(
        "en",
        "p1",
        "the cat",
        "fr",
        {"full": "sat", "steered": "le"},
        {"full": "en", "steered": "fr"},
    ),
    EvolutionSettings(stores=("a.zarr", "b.zarr"), x="params", analysis=ANALYSIS),
    EvolutionRow(
        store="a.zarr",
        series="s",
        checkpoint="c",
        step=1,
        params=10,
        weights_hash="w",
        lrds=0.1,
        sads=0.2,
        lrds_low=None,
        lrds_high=None,
        sads_low=None,
        sads_high=None,
        sklr=3,
        sklr_percent=1.0,
        key_layer_center=0.5,
        region_percent={"en": 1.0},
        key_neurons_per_layer={"en": [1, 2]},
        languages=("en",),
        analysis_params=ANALYSIS,
        ablation_params=AblationSettings(analysis=ANALYSIS),
    ),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda record: type(record).__name__)
def test_every_record_round_trips_through_json(record) -> None:
    assert type(record).from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_an_ablation_tables_own_region_twin_and_full_model_accuracy() -> None:
    table = next(record for record in RECORDS if isinstance(record, AblationTable))
    assert table.own_region_increase() == 100.0
    assert table.random_twin_increase() == 25.0
    assert table.full_model_choice_accuracy() == 0.5
    assert table.columns == ["en", "random~en"]


def test_settings_refuse_bad_values_in_their_field_names() -> None:
    with pytest.raises(SettingsError, match="^top_percent must be in"):
        AnalysisSettings(top_percent=0)
    with pytest.raises(SettingsError, match="^threshold must be a finite number"):
        AnalysisSettings(threshold=float("nan"))
    with pytest.raises(LfeError, match=r"^device 'gpu' is not a device"):
        ExtractSettings(device="gpu")
    with pytest.raises(
        SettingsError,
        match=r"^window must be positive, got -1; stride must be positive, got 0; "
        r"max_new_tokens must be positive, got -1; dtype 'int8' is not one of",
    ) as refused:
        AblationSettings(window=-1, stride=0, max_new_tokens=-1, dtype="int8")
    assert [problem.field for problem in refused.value.problems] == [
        "window",
        "stride",
        "max_new_tokens",
        "dtype",
    ]
    flags = {"max_new_tokens": "--max-new-tokens"}
    assert refused.value.text(lambda field: flags.get(field, field.upper())).startswith(
        "WINDOW must be positive, got -1; STRIDE must be positive, got 0; --max-new-tokens must"
    )
    with pytest.raises(SettingsError, match=r"^n_boot must be 0 \(no interval\) or at least 10"):
        AnalysisSettings(n_boot=-1)
    with pytest.raises(SettingsError, match="^lm_eval runs the harness's own transformers model"):
        AblationSettings(lm_eval=("xnli",), backend="vllm")
    # the percent alone decides, as recorded
    assert AnalysisSettings(threshold=1.0, top_percent=3).threshold is None
    assert AnalysisSettings().same_numbers(AnalysisSettings(arithmetic="torch-cuda"))
    assert not AnalysisSettings().same_numbers(AnalysisSettings(seed=1))


# As lfe wrote them before records existed (abridged from a real store): they must still read.
OLD_ANALYSIS = {
    "params": {
        "threshold": None,
        "top_percent": 2,
        "n_boot": 10,
        "seed": 0,
        "interval": 0.95,
        "zscore_std": "population",
        "normalisation": "L2 over all layers (paper eq. 6)",
        "arithmetic": "numpy",
    },
    "languages": ["en", "fr"],
    "n_sids": 8,
    "whole": {
        "lrds": 0.0599,
        "sads": 0.0035,
        "lrds_low": 0.0587,
        "lrds_high": 0.0611,
        "sads_low": 0.0030,
        "sads_high": 0.0067,
    },
    "layers": [
        {"layer": 0, "lrds": 0.0884, "sads": 0.0094},
        {"layer": 1, "lrds": 0.0801, "sads": 0.0044},
    ],
    "sklr": 246,
    "sklr_percent": 12.0,
    "region_sizes": {"en": 123, "fr": 123},
    "region_percent": {"en": 2.0, "fr": 2.0},
    "key_neurons_per_layer": {"en": [23, 24], "fr": [31, 22]},
    "overlap": [[123, 0], [0, 123]],
    "checkpoint": "ckpt",
    "corpus_fingerprint": "9a24",
    "weights_hash": "a2d7",
    "source": {"kind": "local", "spec": "/m", "revision": None},
    "family": "llama-like",
    "store_dtype": "float32",
    "pooling": "mean over the sample's real tokens, float32 accumulation",
}
OLD_ABLATION = {
    "checkpoint": "ckpt",
    "model": "model",
    "params": {
        "random": "matched",
        "seed": 0,
        "window": 32,
        "stride": None,
        "dtype": "float32",
        "analysis": OLD_ANALYSIS["params"],
        "evaluation": "held",
    },
    "tokens": {"en": 151, "fr": 151},
    "perplexity": {
        "en": {
            "full model": 250.0,
            "en": 260.0,
            "fr": 251.0,
            "random~en": 252.0,
            "random~fr": 250.0,
        },
        "fr": {
            "full model": 200.0,
            "en": 201.0,
            "fr": 230.0,
            "random~en": 200.0,
            "random~fr": 204.0,
        },
    },
    "increase_percent": {
        "en": {"en": 4.0, "fr": 0.4, "random~en": 0.8, "random~fr": 0.0},
        "fr": {"en": 0.5, "fr": 15.0, "random~en": 0.0, "random~fr": 2.0},
    },
    "region_size": {"en": 123, "fr": 123, "random~en": 123, "random~fr": 123},
    "region_percent": {"en": 2.0, "fr": 2.0, "random~en": 2.0, "random~fr": 2.0},
    "choice_accuracy": {"en": {"full model": 1.0, "en": 0.5}, "fr": {"full model": 0.5, "fr": 0.5}},
}


def test_records_written_before_the_restructuring_still_read() -> None:
    analysis = AnalysisRecord.from_dict(OLD_ANALYSIS)
    assert analysis.params.top_percent == 2
    assert analysis.whole.interval("lrds") == (0.0587, 0.0611)
    assert [layer.lrds for layer in analysis.layers] == [0.0884, 0.0801]
    assert analysis.n_layers is None
    assert analysis.params.null == 0
    assert analysis.checkpoint_settings is None
    table = AblationTable.from_dict(OLD_ABLATION)
    # derived from the old control names
    assert table.twins == {"random~en": "en", "random~fr": "fr"}
    assert table.own_region_increase() == pytest.approx(9.5)
    assert table.random_twin_increase() == pytest.approx(1.4)
    assert table.full_model_choice_accuracy() == 0.75
    assert table.params.analysis == analysis.params


def test_settings_written_before_the_backends_and_the_regions_tuple_still_read() -> None:
    # a comma string before
    assert AblationSettings.from_dict({"regions": "en, fr"}).regions == ("en", "fr")
    assert AblationSettings.from_dict({"regions": "all"}).regions == ("all",)
    assert AblationSettings.from_dict({}).backend == "hf"
    # a checkpoint made before --backend
    assert ExtractSettings.from_dict({"dtype": "float16"}).backend == "hf"
    assert ExtractSettings.from_dict({"dtype": "float16"}).tensor_parallel == 1
