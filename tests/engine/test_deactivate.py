"""Deactivation: hook zeroing, weight zeroing and per-row masks agree; evaluations run with masks
live."""

import json
from typing import NoReturn

import numpy as np
import pytest
import torch

from lfe.analysis.controls import random_region
from lfe.intervene.deactivate import deactivated, row_masks
from lfe.intervene.evaluate import ending_scores, negative_log_likelihood, perplexity, windows
from lfe.intervene.evaluators import HfEvaluator
from lfe.models.families import FAMILIES, adapter_for
from lfe.models.loading import load, load_model, resolve_source
from lfe.models.tokens import special_prefix
from lfe.records import FULL_MODEL, ChoiceItem
from lfe.workflows.ablate import choice_accuracy

TEXTS = ["le chat est assis sur le tapis rouge", "the cat sat"]


def _load(path):
    """(model, tokenizer) as lfe loads them (each family's attention implementation included)."""
    return load_model(resolve_source(str(path)))


def _batch(tokenizer):
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in TEXTS]
    width = max(map(len, ids))
    input_ids = torch.tensor([i + [0] * (width - len(i)) for i in ids])
    mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids])
    return input_ids, mask


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_three_forms_agree_and_an_empty_mask_changes_nothing(model_type, tiny_models) -> None:
    model, tokenizer = _load(tiny_models(model_type))
    adapter = adapter_for(model)
    total = adapter.n_layers * adapter.n_neurons
    mask = random_region(total, total // 5, np.random.default_rng(0))
    input_ids, attention = _batch(tokenizer)
    with torch.no_grad():
        full = model(input_ids=input_ids, attention_mask=attention).logits
        with deactivated(adapter, mask):
            by_weight = model(input_ids=input_ids, attention_mask=attention).logits
        with deactivated(adapter, np.zeros(total, dtype=bool)):
            nothing = model(input_ids=input_ids, attention_mask=attention).logits
        table = np.stack([~mask, np.ones(total, dtype=bool)])  # row 0 deactivated, row 1 intact
        by_row = {}
        # hooks after the activation; the masked-activation kernel in its place
        for fused in (False, True):
            with row_masks(adapter, table, torch.tensor([0, 1]), fused=fused):
                by_row[fused] = model(input_ids=input_ids, attention_mask=attention).logits
        by_hook = _hook_zeroing(model, adapter, mask, input_ids, attention)
        # the original forwards are back
        again = model(input_ids=input_ids, attention_mask=attention).logits
    real = attention.bool()
    for row in range(2):
        torch.testing.assert_close(
            by_weight[row][real[row]], by_hook[row][real[row]], rtol=1e-5, atol=1e-5
        )
    for fused in (False, True):
        torch.testing.assert_close(
            by_row[fused][0][real[0]], by_weight[0][real[0]], rtol=1e-5, atol=1e-5
        )
        torch.testing.assert_close(
            by_row[fused][1][real[1]], full[1][real[1]], rtol=1e-5, atol=1e-5
        )
    assert torch.equal(nothing, full)
    assert torch.equal(again, full)
    assert adapter.activation_kind is not None  # every registered family has a fused form
    assert not torch.allclose(by_weight[0][real[0]], full[0][real[0]])


def _hook_zeroing(model, adapter, mask, input_ids, attention):
    per_layer = mask.reshape(adapter.n_layers, adapter.n_neurons)
    handles = []
    for layer, module in enumerate(adapter.neuron_modules):
        off = torch.as_tensor(per_layer[layer])
        if adapter.read == "output":
            handles.append(
                module.register_forward_hook(lambda m, a, out, off=off: out.masked_fill(off, 0))
            )
        else:
            handles.append(
                module.register_forward_pre_hook(lambda m, a, off=off: (a[0].masked_fill(off, 0),))
            )
    try:
        return model(input_ids=input_ids, attention_mask=attention).logits
    finally:
        for handle in handles:
            handle.remove()


def test_weights_are_restored_when_an_evaluation_fails(tiny_models) -> NoReturn:
    model, _ = _load(tiny_models("llama"))
    adapter = adapter_for(model)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    with pytest.raises(RuntimeError, match="boom"):
        with deactivated(adapter, np.ones(adapter.n_layers * adapter.n_neurons, dtype=bool)):
            assert float(adapter.deactivation_modules[0].weight.detach().abs().sum()) == 0
            raise RuntimeError("boom")
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name


@pytest.mark.parametrize("stride", [None, 3])
def test_windows_score_every_token_once_and_perplexity_equals_the_reference(
    stride, tiny_models
) -> None:
    ids = list(range(1, 24))
    scored = [t for piece, first in windows(ids, 8, stride) for t in piece[first:]]
    # non-overlapping: each window's first token has no context and is not scored
    if stride is None:
        assert scored == [t for i, t in enumerate(ids) if i % 8]
    else:
        assert scored == ids[1:]
    model, tokenizer = _load(tiny_models("gpt2"))
    stream = tokenizer("the cat sat on the mat, the dog lay on the rug", add_special_tokens=False)[
        "input_ids"
    ]
    nll, count = negative_log_likelihood(model, stream, window=len(stream))
    with torch.no_grad():
        loss = model(input_ids=torch.tensor([stream]), labels=torch.tensor([stream])).loss
    assert count == len(stream) - 1
    assert perplexity(nll, count) == pytest.approx(float(torch.exp(loss)), rel=1e-5)


def test_masks_are_live_during_the_choice_evaluation(tiny_models, tmp_path) -> None:
    loaded = load(resolve_source(str(tiny_models("qwen2", size="small"))))
    model, tokenizer, adapter = loaded.model, loaded.tokenizer, loaded.adapter
    rng = np.random.default_rng(0)
    words = "the cat dog sat ran on under a mat rug big small".split()
    items = []
    for i in range(16):
        context = " ".join(rng.choice(words, 6))
        endings = [" ".join(rng.choice(words, 3)) for _ in range(2)]
        # what the full model picks
        label = int(np.argmax(ending_scores(model, tokenizer, context, endings)))
        items.append(ChoiceItem("en", context, tuple(endings), label, sid=str(i)))
    path = tmp_path / "choice.jsonl"
    path.write_text("".join(json.dumps(item.to_dict()) + "\n" for item in items))
    total = adapter.n_layers * adapter.n_neurons
    accuracy = choice_accuracy(
        HfEvaluator(loaded), {FULL_MODEL: np.zeros(total, bool), "all": np.ones(total, bool)}, items
    )
    assert accuracy["en"][FULL_MODEL] == 1.0
    assert accuracy["en"]["all"] < 1.0  # the deactivation changed answers: it was live


@pytest.mark.parametrize("stride, policy", [(None, "none"), (5, "none"), (5, "exclude")])
def test_strided_batched_perplexity_equals_hugging_faces_loss_window_by_window(
    stride, policy, tiny_models, monkeypatch
) -> None:
    import lfe.intervene.evaluate as evaluate

    model, tokenizer = _load(tiny_models("llama", bos=True))
    prefix = special_prefix(tokenizer, policy)
    assert prefix == ([tokenizer.bos_token_id] if policy != "none" else [])
    stream = tokenizer(" ".join(TEXTS * 4), add_special_tokens=False)["input_ids"]
    pieces = windows(stream, 12, stride)
    assert len(pieces) > 3
    # a logit budget of about two windows: the windows go through in several batches, the last one
    # short
    monkeypatch.setattr(
        evaluate, "LOGIT_BYTES", 2 * 4 * 12 * model.get_output_embeddings().weight.shape[0] + 1
    )
    nll, count = negative_log_likelihood(model, stream, window=12, stride=stride, prefix=prefix)
    total, scored = 0.0, 0
    with torch.no_grad():
        for piece, first in pieces:  # each window fed after the prefix, which is never scored
            # HF scores labels[t] from t - 1
            labels = torch.tensor([[-100] * (len(prefix) + first) + piece[first:]])
            loss = model(input_ids=torch.tensor([[*prefix, *piece]]), labels=labels).loss
            total += float(loss) * (len(piece) - first)
            scored += len(piece) - first
    assert count == scored == len(stream) - (1 if stride else len(pieces))
    assert nll == pytest.approx(total, rel=1e-5)
