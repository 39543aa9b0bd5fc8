"""The paper's two robust claims on a real model and real text (downloads about 170 MB once).

SmolLM2-135M on 20 Bible verses in the paper's nine languages: samples of one language are more
alike than samples of different languages (LRDS > 0), and translations more alike than unrelated
sentences (SADS > 0), each with its 95% bootstrap interval above 0. Whatever it finds is reported;
the test is not tuned to pass.
"""

import pytest

from lfe.corpus import read_corpus
from lfe.corpus.sample import sample_corpus
from lfe.corpus.sources.bible import fetch_bible
from lfe.engine import extract
from lfe.models.catalogue import fetch_model
from lfe.records import AnalysisSettings
from lfe.workflows.analyze import analyze_store


@pytest.mark.slow
def test_lrds_and_sads_are_positive_on_smollm2(tmp_path) -> None:
    bible = fetch_bible(tmp_path / "bible.tsv")
    probe = sample_corpus(bible, samples=20, seed=0, out_dir=tmp_path / "sample").probe
    model = fetch_model("smollm2-135m")
    extract(str(model), read_corpus(probe), tmp_path / "run.zarr", name="smollm2", progress=False)
    settings = AnalysisSettings(n_boot=200, seed=0)
    [record] = analyze_store(
        tmp_path / "run.zarr", settings=settings, figures=False, progress=False
    ).values()
    whole = record.whole
    print(f"SmolLM2-135M, 9 x 20 verses: {whole.summary()}, SKLR {record.sklr}")
    assert whole.lrds_low is not None
    assert whole.lrds_low > 0
    assert whole.sads_low is not None
    assert whole.sads_low > 0
