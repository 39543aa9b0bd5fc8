"""Every registered family: its adapter finds the paper's neurons, and lfe's rows equal a plain
reference."""

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from lfe.corpus import read_corpus
from lfe.engine import ExtractSettings, extract
from lfe.errors import ModelError
from lfe.models.families import FAMILIES, adapter_for
from lfe.models.loading import load_config, resolve_source
from lfe.models.tiny import EXAMPLES
from lfe.store import ActivationStore
from tests.helpers import parallel_rows, write_tsv

FAMILY_TYPES = sorted(FAMILIES)

# Written out by hand, independently of the adapters: (module holding the neurons, read its output?)
PLAIN_READ_POINTS = {
    "bloom": (lambda m, i: m.transformer.h[i].mlp.gelu_impl, True),
    "gpt2": (lambda m, i: m.transformer.h[i].mlp.act, True),
    **{
        t: (lambda m, i: m.model.layers[i].mlp.down_proj, False)
        for t in FAMILY_TYPES
        if t not in ("bloom", "gpt2")
    },
}
PLAIN_DEACTIVATION = {
    "bloom": lambda m, i, k: m.transformer.h[i].mlp.dense_4h_to_h.weight[:, k],
    "gpt2": lambda m, i, k: m.transformer.h[i].mlp.c_proj.weight[k, :],  # Conv1D: [in, out]
    **{
        t: lambda m, i, k: m.model.layers[i].mlp.down_proj.weight[:, k]
        for t in FAMILY_TYPES
        if t not in ("bloom", "gpt2")
    },
}


def test_every_registered_family_has_an_example_and_a_reference() -> None:
    assert sorted(EXAMPLES) == FAMILY_TYPES
    assert sorted(PLAIN_READ_POINTS) == FAMILY_TYPES


def _load(path):
    config = load_config(resolve_source(str(path)))
    kwargs = {"attn_implementation": "eager"} if config.model_type == "bloom" else {}
    return AutoModelForCausalLM.from_pretrained(
        path, **kwargs
    ).eval(), AutoTokenizer.from_pretrained(path)


def reference_rows(path, texts, prefix=(), pool_prefix=False):
    """One sample at a time, ``prefix`` ids written before the bare text, a plain hook on the
    hand-written module, mean over the text's tokens (and the prefix's with ``pool_prefix``) in
    float64."""
    model, tokenizer = _load(path)
    module_of, read_output = PLAIN_READ_POINTS[model.config.model_type]
    skip = 0 if pool_prefix else len(prefix)
    rows = []
    for text in texts:
        captured = []
        ids = torch.tensor([[*prefix, *tokenizer(text, add_special_tokens=False)["input_ids"]]])
        handles = []
        for i in range(model.config.num_hidden_layers):
            if read_output:
                handles.append(
                    module_of(model, i).register_forward_hook(
                        lambda mod, args, out, captured=captured: captured.append(
                            out[0, skip:].double().mean(0)
                        )
                    )
                )
            else:
                handles.append(
                    module_of(model, i).register_forward_pre_hook(
                        lambda mod, args, captured=captured: captured.append(
                            args[0][0, skip:].double().mean(0)
                        )
                    )
                )
        with torch.no_grad():
            model(input_ids=ids)
        for handle in handles:
            handle.remove()
        rows.append(torch.cat(captured).numpy())
    return np.stack(rows)


def _extract(model_dir, corpus, out, **settings):
    extract(str(model_dir), corpus, out, settings=ExtractSettings(**settings), progress=False)
    store = ActivationStore.open(out)
    return store.checkpoint(store.checkpoint_names()[0]).pooled[:]


@pytest.mark.parametrize("model_type", FAMILY_TYPES)
def test_adapter_finds_every_layer_and_neuron(model_type, tiny_models) -> None:
    model, _ = _load(tiny_models(model_type))
    adapter = adapter_for(model)
    assert adapter.n_layers == model.config.num_hidden_layers == 2
    expected = 4 * model.config.hidden_size if model_type == "bloom" else 80
    assert adapter.n_neurons == expected


@pytest.mark.parametrize("model_type", FAMILY_TYPES)
def test_rows_equal_the_plain_reference_and_ignore_padding_and_batch_size(
    model_type, tiny_models, tmp_path
) -> None:
    corpus = read_corpus(write_tsv(tmp_path / "c.tsv", parallel_rows(n_sids=6)))
    path = tiny_models(model_type)
    expected = reference_rows(path, corpus.texts)
    batched = _extract(path, corpus, tmp_path / "a.zarr", batch_tokens=512, block_rows=8)
    single = _extract(path, corpus, tmp_path / "b.zarr", batch_tokens=1)  # batch size 1, no padding
    left = _extract(path, corpus, tmp_path / "c.zarr", batch_tokens=4096, padding_side="left")
    assert batched.shape == expected.shape
    scale = np.abs(expected).max()
    for rows in (batched, single, left):
        np.testing.assert_allclose(rows, expected, rtol=1e-4, atol=1e-5 * scale)
    assert not np.allclose(expected[0], expected[1])  # rows differ: the comparison can fail


@pytest.mark.parametrize("model_type", FAMILY_TYPES)
def test_each_special_tokens_policy_equals_its_plain_reference_with_a_tokenizer_that_adds_bos(
    model_type, tiny_models, tmp_path
) -> None:
    corpus = read_corpus(write_tsv(tmp_path / "c.tsv", parallel_rows(n_sids=4)))
    path = tiny_models(model_type, bos=True)
    bos = AutoTokenizer.from_pretrained(path).convert_tokens_to_ids("<bos>")
    # the bare text (the paper's released code)
    expected = {
        "none": reference_rows(path, corpus.texts),
        "include": reference_rows(path, corpus.texts, prefix=[bos], pool_prefix=True),
        # fed, left out of the mean
        "exclude": reference_rows(path, corpus.texts, prefix=[bos]),
    }
    scale = np.abs(expected["none"]).max()
    for policy, rows in expected.items():
        found = _extract(
            path, corpus, tmp_path / f"{policy}.zarr", special_tokens=policy, batch_tokens=256
        )
        np.testing.assert_allclose(found, rows, rtol=1e-4, atol=1e-5 * scale, err_msg=policy)
        tokens = (
            ActivationStore.open(tmp_path / f"{policy}.zarr")
            .checkpoint(model_type + "-tiny-0-bos")
            .n_tokens
        )
        assert (
            tokens == [len(text.encode()) + (policy == "include") for text in corpus.texts]
        ).all()
    # <bos> changes the rows: the test can fail
    assert not np.allclose(expected["exclude"], expected["none"])


@pytest.mark.parametrize("model_type", FAMILY_TYPES)
def test_deactivation_point_equals_zeroing_the_neuron(model_type, tiny_models) -> None:
    """Zeroing the adapter's deactivation weight slice == zeroing the neuron's activation."""
    model, tokenizer = _load(tiny_models(model_type))
    adapter = adapter_for(model)
    ids = tokenizer("le chat est assis", add_special_tokens=False, return_tensors="pt")["input_ids"]
    layer, neurons = 1, [3, 17]

    def zero_activation(module, args, out=None):
        if out is not None:
            out = out.clone()
            out[..., neurons] = 0
            return out
        x = args[0].clone()
        x[..., neurons] = 0
        return (x,)

    module = adapter.neuron_modules[layer]
    if adapter.read == "output":
        handle = module.register_forward_hook(zero_activation)
    else:
        handle = module.register_forward_pre_hook(zero_activation)
    with torch.no_grad():
        zeroed_activation = model(input_ids=ids).logits
    handle.remove()
    with torch.no_grad():
        full = model(input_ids=ids).logits
        for k in neurons:
            PLAIN_DEACTIVATION[model_type](model, layer, k).zero_()
        by_weight = model(input_ids=ids).logits
    weight = adapter.deactivation_modules[layer].weight
    assert weight.shape[adapter.deactivation_dim] == adapter.n_neurons
    torch.testing.assert_close(by_weight, zeroed_activation, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(full, by_weight)


def test_unsupported_family_lists_the_supported_ones(tmp_path) -> None:
    from transformers import OPTConfig, OPTForCausalLM

    OPTForCausalLM(
        OPTConfig(
            vocab_size=64,
            hidden_size=16,
            num_hidden_layers=1,
            ffn_dim=32,
            num_attention_heads=2,
            word_embed_proj_dim=16,
        )
    ).save_pretrained(tmp_path / "opt")
    with pytest.raises(
        ModelError, match=r"unsupported model family 'opt'; lfe supports bloom, gemma, .*gpt2"
    ):
        load_config(resolve_source(str(tmp_path / "opt")))


@pytest.mark.parametrize("model_type", FAMILY_TYPES)
def test_firing_point_is_the_activation_functions_output_as_lape_reads_it(
    model_type, tiny_models
) -> None:
    """on_firing gives act(gate) in a gated MLP (not act(gate) * up), the neurons themselves
    otherwise."""
    from lfe.kernels import masked_positive_count

    model, tokenizer = _load(tiny_models(model_type))
    adapter = adapter_for(model)
    ids = tokenizer("le chat est assis", add_special_tokens=False, return_tensors="pt")["input_ids"]
    fired, mlp_inputs, neurons = {}, {}, {}
    gated = model_type not in ("bloom", "gpt2")
    handles = []
    if gated:  # the reference, by hand: act_fn(gate_proj(x)) from each MLP's input
        for i, layer in enumerate(model.model.layers):
            handles.append(
                layer.mlp.register_forward_pre_hook(
                    lambda module, args, i=i: mlp_inputs.__setitem__(i, args[0])
                )
            )
    with (
        torch.no_grad(),
        adapter.on_firing(lambda layer, values: fired.__setitem__(layer, values.clone())),
        adapter.on_neurons(lambda layer, values: neurons.__setitem__(layer, values.clone())),
    ):
        model(input_ids=ids)
    for handle in handles:
        handle.remove()
    for i in range(adapter.n_layers):
        if gated:
            mlp = model.model.layers[i].mlp
            torch.testing.assert_close(fired[i], mlp.act_fn(mlp.gate_proj(mlp_inputs[i])))
            assert not torch.allclose(fired[i], neurons[i])  # the product with up is another thing
        else:
            torch.testing.assert_close(fired[i], neurons[i])
    assert adapter.firing_point.startswith("output of" if gated else "the neurons")
    mask = torch.ones(ids.shape, dtype=torch.int64)
    mask[0, -1] = 0  # the last token as padding: never counted
    counts = masked_positive_count(fired[0], mask)
    assert torch.equal(counts, (fired[0][:, :-1] > 0).sum(dim=1, dtype=torch.int32))
