"""`lfe extract --stats mean,positive`: per sample and neuron, the pooled tokens where the neuron
fired (LAPE)."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from transformers import AutoModelForCausalLM, AutoTokenizer

from lfe.cli import main
from lfe.corpus import read_corpus
from lfe.engine import ExtractSettings, extract
from lfe.errors import LfeError
from lfe.store import ActivationStore
from tests.helpers import parallel_rows, write_tsv


def _reference(model_dir, texts):
    """Counts by hand: one text at a time (no padding), act_fn(gate_proj(x)) > 0 or the neurons > 0,
    every token."""
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    gated = hasattr(model, "model")
    rows = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        fired = []
        modules = (
            [layer.mlp for layer in model.model.layers]
            if gated
            else [block.mlp.act for block in model.transformer.h]
        )

        def hook(module, args, output, fired=fired) -> None:
            values = module.act_fn(module.gate_proj(args[0])) if gated else output
            fired.append((values[0] > 0).sum(dim=0))

        handles = [module.register_forward_hook(hook) for module in modules]
        with torch.no_grad():
            model(input_ids=ids)
        for handle in handles:
            handle.remove()
        rows.append(torch.cat(fired).numpy())
    return np.stack(rows)


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_positive_counts_equal_a_plain_reference_and_padding_changes_nothing(
    family, tiny_models, tmp_path
) -> None:
    model = tiny_models(family)
    corpus = read_corpus(
        write_tsv(tmp_path / "c.tsv", parallel_rows(langs=("en", "fr", "zh"), n_sids=4))
    )
    settings = ExtractSettings(batch_tokens=64, block_rows=5, stats=("mean", "positive"))
    extract(
        str(model), corpus, tmp_path / "run.zarr", settings=settings, name="ckpt", progress=False
    )
    checkpoint = ActivationStore.open(tmp_path / "run.zarr").checkpoint("ckpt")
    positive = checkpoint.positive[:]
    np.testing.assert_array_equal(positive, _reference(model, corpus.texts))
    assert (positive <= checkpoint.n_tokens[:, None]).all()
    assert positive.any()
    assert checkpoint.meta.firing_point.startswith(
        "output of" if family == "llama" else "the neurons"
    )
    # all rows in one padded batch
    one = ExtractSettings(batch_tokens=10_000, block_rows=5, stats=("mean", "positive"))
    extract(str(model), corpus, tmp_path / "one.zarr", settings=one, name="ckpt", progress=False)
    np.testing.assert_array_equal(
        ActivationStore.open(tmp_path / "one.zarr").checkpoint("ckpt").positive[:], positive
    )


def test_a_lost_positive_chunk_is_recomputed_and_other_stats_are_refused_on_resume(
    tiny_models, tmp_path
) -> None:
    model = str(tiny_models("llama"))
    corpus_file = write_tsv(tmp_path / "c.tsv", parallel_rows(langs=("en", "fr"), n_sids=6))
    base = [
        "extract",
        model,
        "--corpus",
        str(corpus_file),
        "--name",
        "ckpt",
        "--block-rows",
        "4",
        "--quiet",
        "--out",
        str(tmp_path / "run.zarr"),
    ]
    assert CliRunner().invoke(main, base + ["--stats", "mean,positive"]).exit_code == 0
    whole = ActivationStore.open(tmp_path / "run.zarr").checkpoint("ckpt").positive[:]
    (tmp_path / "run.zarr" / "checkpoints" / "ckpt" / "positive" / "c" / "1" / "0").unlink()
    resumed = CliRunner().invoke(main, base + ["--stats", "mean,positive"])
    assert resumed.exit_code == 0, resumed.output
    np.testing.assert_array_equal(
        ActivationStore.open(tmp_path / "run.zarr").checkpoint("ckpt").positive[:], whole
    )
    chunk = tmp_path / "run.zarr" / "checkpoints" / "ckpt" / "positive" / "c" / "2" / "1"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x10
    chunk.write_bytes(bytes(data))
    found = CliRunner().invoke(main, ["check", str(tmp_path / "run.zarr"), "--deep", "--quiet"])
    assert found.exit_code == 1
    assert "block 2" in found.output
    assert "positive-count chunk is corrupted" in found.output
    assert (
        CliRunner()
        .invoke(main, ["check", str(tmp_path / "run.zarr"), "--repair", "--quiet"])
        .exit_code
        == 1
    )
    assert CliRunner().invoke(main, base + ["--stats", "mean,positive"]).exit_code == 0
    np.testing.assert_array_equal(
        ActivationStore.open(tmp_path / "run.zarr").checkpoint("ckpt").positive[:], whole
    )
    other = CliRunner().invoke(main, base)
    assert other.exit_code == 2
    assert "stats" in other.output
    assert "Traceback" not in other.output
    for bad, message in (("positive", "--stats must include mean"), ("mean,median", "--stats")):
        result = CliRunner().invoke(main, base[:-1] + [str(tmp_path / "x.zarr"), "--stats", bad])
        assert result.exit_code == 2
        assert message in result.output
    with pytest.raises(LfeError, match="must include mean"):
        ExtractSettings(stats=("positive",))
    assert ActivationStore.open(tmp_path / "run.zarr").checkpoint("ckpt").meta.settings.stats == (
        "mean",
        "positive",
    )
