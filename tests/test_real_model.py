"""The paper's two robust claims on a real model and real text (downloads about 170 MB once).

SmolLM2-135M on 20 Bible verses in the paper's nine languages: samples of one language are more
alike than samples of different languages (LRDS > 0), and translations more alike than unrelated
sentences (SADS > 0), each with its 95% bootstrap interval above 0. Whatever it finds is reported;
the test is not tuned to pass.
"""

import pytest

from lfe.workflows.analyze import analyze_store
from lfe.corpus import read_corpus
from lfe.corpus.sources.bible import fetch_bible
from lfe.corpus.sample import sample_corpus
from lfe.engine import extract
from lfe.models.catalogue import fetch_model


@pytest.mark.slow
def test_lrds_and_sads_are_positive_on_smollm2(tmp_path):
    bible = fetch_bible(tmp_path / "bible.tsv")
    probe = sample_corpus(bible, samples=20, seed=0, out_dir=tmp_path / "sample")["probe"]
    model = fetch_model("smollm2-135m", say=lambda text: None)
    extract(str(model), read_corpus(probe), tmp_path / "run.zarr", name="smollm2", progress=False)
    [result] = analyze_store(tmp_path / "run.zarr", n_boot=200, seed=0, figures=False, progress=False).values()
    whole = result.whole
    print(f"SmolLM2-135M, 9 x 20 verses: LRDS {whole['lrds']:.4f} [{whole['lrds_low']:.4f}, {whole['lrds_high']:.4f}], "
          f"SADS {whole['sads']:.4f} [{whole['sads_low']:.4f}, {whole['sads_high']:.4f}], SKLR {result.sklr}")
    assert whole["lrds_low"] > 0
    assert whole["sads_low"] > 0
