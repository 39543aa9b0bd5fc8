"""How a text is fed to a model: one special-tokens policy for extraction and every evaluation.

- ``exclude`` (the default): feed each text as the model's tokenizer prepares it (``<bos>`` for
  Gemma and LLaMA-family tokenizers, nothing extra for BLOOM or GPT-2), and leave the special-token
  positions out of the mean: the model sees what it was trained on, the rows describe the text;
- ``include``: feed them and pool them too;
- ``none``: feed the bare text (what the paper's released code did; kept to reproduce it).

Evaluations (perplexity windows, choice contexts, generation prompts) put the tokenizer's own
prefix (``special_prefix``) before each piece they feed, unless the policy is ``none``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Sequence

from lfe.records import SPECIAL_TOKENS

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


class Encoded(NamedTuple):
    """Token ids as fed to the model, and for each position whether it enters the mean."""

    ids: list[list[int]]
    pooled: list[list[bool]]


def encode(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    policy: str,
    max_tokens: int | None = None,
) -> Encoded:
    """Every text's token ids under ``policy``, truncated to ``max_tokens``, with the pooled
    positions."""
    if policy not in SPECIAL_TOKENS:
        raise ValueError(
            f"special-tokens policy {policy!r} is not one of {', '.join(SPECIAL_TOKENS)}"
        )
    encoded = tokenizer(
        list(texts), add_special_tokens=policy != "none", return_special_tokens_mask=True
    )
    ids = [list(row) for row in encoded["input_ids"]]
    if policy == "exclude":
        pooled = [[not special for special in row] for row in encoded["special_tokens_mask"]]
    else:
        pooled = [[True] * len(row) for row in ids]
    if max_tokens is not None:
        ids, pooled = [row[:max_tokens] for row in ids], [row[:max_tokens] for row in pooled]
    return Encoded(ids, pooled)


def special_prefix(tokenizer: PreTrainedTokenizerBase, policy: str) -> list[int]:
    """The special tokens the tokenizer puts before a text (``[<bos>]`` for Gemma), or [] under
    ``none``."""
    if policy == "none":
        return []
    probe = "a"
    fed = tokenizer(probe, add_special_tokens=True)["input_ids"]
    bare = tokenizer(probe, add_special_tokens=False)["input_ids"]
    start = next((i for i in range(len(fed) - len(bare) + 1) if fed[i : i + len(bare)] == bare), 0)
    return list(fed[:start])
