"""One interface to a model under intervention, whichever engine runs it: transformers or vLLM.

``deactivated(mask)`` and ``forced(mask, values)`` hold neurons off (or at values) inside a ``with``
block, and the evaluations run inside it: perplexity over windows, the log-likelihood of choice
endings, greedy continuations. ``HfEvaluator`` zeroes down-projection weights and runs transformers;
``VllmEvaluator`` forces the neurons at vLLM's read point (the same thing for a linear projection)
and runs vLLM's prompt log-probabilities and greedy sampling. The same special-tokens prefix goes
before every piece of text either way.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, ContextManager, Iterator, Protocol, Sequence

from lfe.errors import LfeError
from lfe.intervene.deactivate import deactivated
from lfe.intervene.evaluate import (
    LOGIT_BYTES,
    ending_scores,
    greedy_batch,
    negative_log_likelihood,
    window_pieces,
)
from lfe.models.forcing import forced
from lfe.models.loading import LoadedModel, context_length
from lfe.records import ModelSource

if TYPE_CHECKING:
    from typing import Sequence

    from numpy.typing import ArrayLike
    from transformers import PreTrainedTokenizerBase

    from lfe.models.vllm_engine import VllmModel


class Evaluator(Protocol):
    """What the causal experiments need of a model; ``tokenizer`` is its transformers tokenizer."""

    tokenizer: object

    def deactivated(self, mask: ArrayLike) -> ContextManager: ...

    def forced(self, mask: ArrayLike, values: ArrayLike) -> ContextManager: ...

    def negative_log_likelihood(
        self, ids: list[int], window: int, stride: int | None, prefix: Sequence[int]
    ) -> tuple[float, int]: ...

    def ending_scores(
        self, context: str, endings: list[str], prefix: Sequence[int]
    ) -> list[float]: ...

    def greedy_batch(
        self, prompts: Sequence[str], max_new_tokens: int, prefix: Sequence[int]
    ) -> list[str]: ...


class HfEvaluator:
    """transformers: the loaded model itself."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded, self.tokenizer = loaded, loaded.tokenizer

    def deactivated(self, mask: ArrayLike) -> ContextManager:
        return deactivated(self.loaded.adapter, mask)

    def forced(self, mask: ArrayLike, values: ArrayLike) -> ContextManager:
        return forced(self.loaded.adapter, mask, values)

    def negative_log_likelihood(
        self, ids: list[int], window: int, stride: int | None, prefix: Sequence[int]
    ) -> tuple[float, int]:
        return negative_log_likelihood(self.loaded.model, ids, window, stride, prefix)

    def ending_scores(self, context: str, endings: list[str], prefix: Sequence[int]) -> list[float]:
        return ending_scores(self.loaded.model, self.tokenizer, context, endings, prefix)

    def greedy_batch(
        self, prompts: Sequence[str], max_new_tokens: int, prefix: Sequence[int]
    ) -> list[str]:
        return greedy_batch(self.loaded.model, self.tokenizer, prompts, max_new_tokens, prefix)


class VllmEvaluator:
    """vLLM: a ``lfe.models.vllm_engine.VllmModel`` and the transformers tokenizer lfe feeds it ids
    from."""

    def __init__(self, engine: VllmModel, tokenizer: PreTrainedTokenizerBase) -> None:
        self.engine, self.tokenizer = engine, tokenizer

    def deactivated(self, mask: ArrayLike) -> ContextManager:
        return self.engine.deactivated(mask)

    def forced(self, mask: ArrayLike, values: ArrayLike) -> ContextManager:
        return self.engine.forced(mask, values)

    def negative_log_likelihood(
        self, ids: list[int], window: int, stride: int | None, prefix: Sequence[int]
    ) -> tuple[float, int]:
        scored = self.engine.negative_log_likelihoods(window_pieces(ids, window, stride, prefix))
        return sum(nll for nll, _ in scored), sum(count for _, count in scored)

    def ending_scores(self, context: str, endings: list[str], prefix: Sequence[int]) -> list[float]:
        context_ids = [*prefix, *self._ids(context)]
        pieces = [
            ([*context_ids, *self._ids(" " + ending)], len(context_ids)) for ending in endings
        ]
        return [-nll for nll, _ in self.engine.negative_log_likelihoods(pieces)]

    def greedy_batch(
        self, prompts: Sequence[str], max_new_tokens: int, prefix: Sequence[int]
    ) -> list[str]:
        outputs = self.engine.greedy(
            [[*prefix, *self._ids(prompt)] for prompt in prompts], max_new_tokens
        )
        return self.tokenizer.batch_decode(outputs, skip_special_tokens=True)

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]


def check_fits(loaded: LoadedModel, longest: int) -> None:
    """Refuse sequences of ``longest`` tokens that the model's context cannot hold (generation would
    run past it, on and on)."""
    context = context_length(loaded.model.config)
    if context is not None and longest > context:
        raise LfeError.naming(
            f"sequences of up to {longest} tokens (the longest prompt or choice context with its"
            f" special tokens, plus `max_new_tokens` generated) do not fit the model's context of"
            f" {context} positions; lower `max_new_tokens` or shorten the longest prompt"
        )


@contextmanager
def evaluator_for(
    loaded: LoadedModel,
    source: ModelSource,
    *,
    backend: str,
    dtype: str,
    tensor_parallel: int,
    longest: int,
) -> Iterator[Evaluator]:
    """The evaluator of ``loaded`` on ``backend``; vLLM's is sized for sequences of ``longest``
    tokens and stopped on exit. Its steps hold about as many logits as a transformers batch does
    (``LOGIT_BYTES``), and at most a GPU batch of tokens (its KV cache is sized to a step)."""
    if backend == "hf":
        yield HfEvaluator(loaded)
        return
    from lfe.models.vllm_engine import MAX_ROWS, MAX_STEP_TOKENS, VllmLimits, VllmModel

    step = max(longest, min(MAX_STEP_TOKENS, LOGIT_BYTES // (4 * loaded.model.config.vocab_size)))
    engine = VllmModel(
        source,
        loaded,
        dtype=dtype,
        tensor_parallel=tensor_parallel,
        limits=VllmLimits(longest=longest, step_tokens=step, max_rows=MAX_ROWS),
    )
    loaded.model = None  # vLLM holds its own copy from here on
    try:
        yield VllmEvaluator(engine, loaded.tokenizer)
    finally:
        engine.close()
