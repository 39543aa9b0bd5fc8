"""Evaluations run under a deactivation: perplexity, cross-lingual choice, greedy generation."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import torch

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

LOGIT_BYTES = 1 << 30  # float32 logits held at once; batches of windows are sized to it


def windows(ids: list[int], window: int, stride: int | None = None) -> list[tuple[list[int], int]]:
    """(window ids, index of the first scored position) over ``ids``.

    Without ``stride``: non-overlapping windows, each scoring all its tokens but the first (the
    paper's convention). With ``stride``: windows every ``stride`` tokens, each scoring only the
    tokens the previous one did not, so every token after the first is scored once with up to
    ``window - 1`` tokens of context.
    """
    if window < 2:
        raise ValueError(f"a window needs at least 2 tokens, got {window}")
    if stride is None:
        return [
            (ids[start : start + window], 1)
            for start in range(0, len(ids) - 1, window)
            if len(ids[start : start + window]) > 1
        ]
    if not 0 < stride <= window:
        raise ValueError(f"stride must be in (0, window], got {stride}")
    result, scored_until = [], 1
    for start in range(0, len(ids) - 1, stride):
        end = min(start + window, len(ids))
        result.append((ids[start:end], max(scored_until - start, 1)))
        scored_until = end
        if end == len(ids):
            break
    return result


def window_pieces(
    ids: list[int], window: int, stride: int | None = None, prefix: Sequence[int] = ()
) -> list[tuple[list[int], int]]:
    """(``prefix`` + window ids, first scored position) of each window of ``windows``: what every
    engine scores."""
    return [
        ([*prefix, *piece], first + len(prefix)) for piece, first in windows(ids, window, stride)
    ]


@torch.inference_mode()
def negative_log_likelihood(
    model: torch.nn.Module,
    ids: list[int],
    window: int,
    stride: int | None = None,
    prefix: Sequence[int] = (),
) -> tuple[float, int]:
    """(summed negative log-likelihood, scored tokens) of the token stream ``ids``.

    ``prefix`` (the tokenizer's special tokens, ``lfe.models.tokens.special_prefix``) is fed before
    every window and never scored, so each window starts as the model was trained to see a text
    start.
    """
    device = next(model.parameters()).device
    vocab = model.get_output_embeddings().weight.shape[0]
    total, count = 0.0, 0
    pieces = window_pieces(ids, window, stride, prefix)
    per_batch = max(1, LOGIT_BYTES // (4 * (window + len(prefix)) * vocab))
    for start in range(0, len(pieces), per_batch):
        group = pieces[start : start + per_batch]
        width = max(len(piece) for piece, _ in group)
        input_ids = torch.zeros((len(group), width), dtype=torch.long)
        mask = torch.zeros_like(input_ids)
        for row, (piece, _) in enumerate(group):
            input_ids[row, : len(piece)] = torch.as_tensor(piece)
            mask[row, : len(piece)] = 1
        logits = model(
            input_ids=input_ids.to(device), attention_mask=mask.to(device), use_cache=False
        ).logits
        for row, (piece, first) in enumerate(group):
            targets = torch.as_tensor(piece[first:], device=device)
            scored = logits[row, first - 1 : len(piece) - 1].float()  # [n, V]
            # -log p(target) = logsumexp(logits) - logit(target), without a [n, V] log-softmax copy
            total += float(
                (torch.logsumexp(scored, dim=-1) - scored.gather(1, targets[:, None])[:, 0]).sum()
            )
            count += len(targets)
    return total, count


def perplexity(nll: float, tokens: int) -> float:
    return math.exp(nll / tokens) if tokens else float("nan")


@torch.inference_mode()
def ending_scores(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    context: str,
    endings: list[str],
    prefix: Sequence[int] = (),
) -> list[float]:
    """Log-likelihood of each ending after ``prefix`` + ``context`` (ending tokens only, summed)."""
    device = next(model.parameters()).device
    context_ids = [*prefix, *tokenizer(context, add_special_tokens=False)["input_ids"]]
    scores = []
    for ending in endings:
        ending_ids = tokenizer(" " + ending, add_special_tokens=False)["input_ids"]
        ids = torch.as_tensor([context_ids + ending_ids], device=device)
        logprobs = torch.log_softmax(model(input_ids=ids, use_cache=False).logits.float(), dim=-1)[
            0
        ]
        positions = torch.arange(
            len(context_ids) - 1, len(context_ids) + len(ending_ids) - 1, device=device
        )
        scores.append(float(logprobs[positions, torch.as_tensor(ending_ids, device=device)].sum()))
    return scores


GENERATION_BATCH = 16  # prompts generated together (left-padded)


def greedy(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    max_new_tokens: int,
    prefix: Sequence[int] = (),
) -> str:
    """The greedy continuation of ``prefix`` + ``prompt``."""
    return greedy_batch(model, tokenizer, [prompt], max_new_tokens, prefix)[0]


@torch.inference_mode()
def greedy_batch(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    max_new_tokens: int,
    prefix: Sequence[int] = (),
) -> list[str]:
    """The greedy continuations of ``prefix`` + each prompt, generated in left-padded batches."""
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    continuations = []
    for start in range(0, len(prompts), GENERATION_BATCH):
        pieces = [
            [*prefix, *tokenizer(prompt, add_special_tokens=False)["input_ids"]]
            for prompt in prompts[start : start + GENERATION_BATCH]
        ]
        width = max(len(piece) for piece in pieces)
        ids = torch.full((len(pieces), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, piece in enumerate(pieces):
            ids[row, width - len(piece) :] = torch.as_tensor(piece, dtype=torch.long)
            mask[row, width - len(piece) :] = 1
        output = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=pad,
        )
        continuations += tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)
    return continuations
