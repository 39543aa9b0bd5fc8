"""How each backend runs a block's rows: its batch plan, and one batch's pooled rows on the device.

``HfRunner`` (transformers): padded batches of rows x longest <= the token budget, each a forward
pass of the decoder with ``PoolingHooks`` on. ``VllmRunner`` (vLLM): packed batches of real tokens
<= the budget, each one engine step (``lfe.models.vllm_engine``). ``lfe.engine.loop.run_blocks``
drives both the same way, so landing, writing, resume and the progress bar are one code path.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, ContextManager, Iterator, Protocol

import torch

from lfe.engine.batching import pad_batch, plan_batches, plan_packed_batches
from lfe.engine.hooks import PoolingHooks
from lfe.engine.prepare import Prepared, pad_id
from lfe.log import logger
from lfe.models.loading import context_length

if TYPE_CHECKING:
    from lfe.models.families.base import FamilyAdapter

# [B, L, K] float32 means, [B, L, K] int32 positive counts or None
Pooled = tuple[torch.Tensor, torch.Tensor | None]


@dataclass
class Batch:
    rows: list[int]  # row indices within the block
    inputs: tuple  # what the backend's run takes


class Runner(Protocol):
    """A backend: plans a block's rows, then runs the planned batches on a started model."""

    def plan(self, ids: list[list[int]], pooled: list[list[bool]]) -> list[Batch]: ...

    def started(self, max_rows: int, longest: int) -> ContextManager[Callable[[Batch], Pooled]]: ...


def padded_batches(
    block_ids: list[list[int]],
    batch_tokens: int | None,
    padding_side: str,
    pad: int,
    block_pooled: list[list[bool]] | None = None,
) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield (row indices within the block, input_ids, mask, positions, pooling mask) for one
    block's batch plan."""
    assert batch_tokens is not None, "resolve the settings first (lfe.engine.settings.resolved)"
    for batch in plan_batches([len(ids) for ids in block_ids], batch_tokens):
        pooled = None if block_pooled is None else [block_pooled[i] for i in batch]
        yield (batch, *pad_batch([block_ids[i] for i in batch], pad, padding_side, pooled))


def forward(
    model: torch.nn.Module,
    adapter: FamilyAdapter,
    input_ids: torch.Tensor,
    mask: torch.Tensor,
    positions: torch.Tensor,
    device: torch.device | str,
) -> None:
    """One forward pass of the decoder without its LM head: the logits are never needed."""
    kwargs = {"position_ids": positions.to(device)} if adapter.takes_position_ids else {}
    model.base_model(
        input_ids=input_ids.to(device), attention_mask=mask.to(device), use_cache=False, **kwargs
    )


class HfRunner:
    """transformers: padded batches through the decoder, pooled by hooks into one preallocated
    buffer."""

    def __init__(self, prepared: Prepared) -> None:
        self.loaded, self.settings = prepared.loaded, prepared.checkpoint.meta.settings

    def plan(self, ids: list[list[int]], pooled: list[list[bool]]) -> list[Batch]:
        pad = pad_id(self.loaded.tokenizer)
        return [
            Batch(rows, tuple(inputs))
            for rows, *inputs in padded_batches(
                ids, self.settings.batch_tokens, self.settings.padding_side, pad, pooled
            )
        ]

    @contextmanager
    def started(self, max_rows: int, longest: int) -> Iterator[Callable[[Batch], Pooled]]:
        adapter, device = self.loaded.adapter, torch.device(self.settings.device)
        sums = torch.empty(
            (max_rows, adapter.n_layers, adapter.n_neurons), dtype=torch.float32, device=device
        )
        counts = (
            torch.empty(sums.shape, dtype=torch.int32, device=device)
            if "positive" in self.settings.stats
            else None
        )

        with PoolingHooks(adapter, sums, counts) as hooks:

            def run(batch: Batch) -> Pooled:
                input_ids, mask, positions, pooling = batch.inputs
                view = hooks.set_batch(pooling.to(device))  # [B, L, K]
                forward(self.loaded.model, adapter, input_ids, mask, positions, device)
                return view, None if counts is None else counts[: len(batch.rows)]

            yield run


class VllmRunner:
    """vLLM: packed batches, one engine step each, pooled by lfe's hooks in vLLM's worker."""

    def __init__(self, prepared: Prepared) -> None:
        self.prepared, self.settings = prepared, prepared.checkpoint.meta.settings

    def plan(self, ids: list[list[int]], pooled: list[list[bool]]) -> list[Batch]:
        from lfe.models.vllm_engine import MAX_ROWS

        assert self.settings.batch_tokens is not None, (
            "resolve the settings first (lfe.engine.settings.resolved)"
        )
        plan = plan_packed_batches([len(row) for row in ids], self.settings.batch_tokens, MAX_ROWS)
        return [Batch(rows, ([ids[i] for i in rows], [pooled[i] for i in rows])) for rows in plan]

    @contextmanager
    def started(self, max_rows: int, longest: int) -> Iterator[Callable[[Batch], Pooled]]:
        from lfe.models.vllm_engine import VllmLimits, VllmModel

        loaded, settings = self.prepared.loaded, self.settings
        assert settings.batch_tokens is not None
        context = context_length(loaded.model.config)
        limits = VllmLimits(
            longest=min(longest + 1, context or longest + 1),
            step_tokens=settings.batch_tokens,
            max_rows=max_rows,
        )
        source = self.prepared.checkpoint.meta.source
        assert source is not None, "a checkpoint being extracted records its source"
        engine = VllmModel(
            source,
            loaded,
            dtype=settings.dtype,
            tensor_parallel=settings.tensor_parallel,
            limits=limits,
            positive="positive" in settings.stats,
        )
        # vLLM holds its own copy from here on; the transformers one has given its identity
        loaded.model = None
        warned = False

        def run(batch: Batch) -> Pooled:
            nonlocal warned
            sums, counts, steps = engine.pool(*batch.inputs)
            # the landing copies to the host while the next batch runs, which vLLM may run on
            # another stream into the same buffer: land a copy (generate() has returned, so this
            # batch's writes are done)
            if sums.is_cuda:
                sums, counts = sums.clone(), None if counts is None else counts.clone()
            # the same plan may then split another way: resume not bit-identical
            if steps > 1 and not warned:
                logger.warning(
                    f"vLLM ran a batch in {steps} steps (its KV cache holds fewer tokens than "
                    "--batch-tokens): the rows are right, but a resumed run may differ in the last "
                    "bits; lower --batch-tokens"
                )
                warned = True
            return sums, counts

        try:
            yield run
        finally:
            engine.close()


RUNNERS: dict[str, Callable[[Prepared], Runner]] = {"hf": HfRunner, "vllm": VllmRunner}
