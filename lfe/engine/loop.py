"""The batch loop: a prepared checkpoint's pending row blocks through the model into the store.

For every pending row block, the block's rows are run in length-sorted batches by the checkpoint's
backend (``lfe.engine.runners``: transformers or vLLM), which mean-pools each layer's neurons over
the real tokens of each sample on the device; the [batch, layers x neurons] result leaves the device
in one copy per batch (``BatchLanding``); the finished block goes to a background writer that writes
it and then marks it done.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from lfe.engine.prepare import Prepared
from lfe.engine.runners import RUNNERS
from lfe.errors import LfeError, listing
from lfe.store import BackgroundWriter


def run_blocks(
    prepared: Prepared, *, progress: bool, blocks: list[int] | None = None
) -> tuple[int, int]:
    """Compute and write every pending block of the checkpoint (or of ``blocks``); returns (rows,
    real tokens)."""
    from tqdm import tqdm

    checkpoint = prepared.checkpoint
    settings = checkpoint.meta.settings
    pending = [block for block in checkpoint.pending_blocks() if blocks is None or block in blocks]
    if not pending:
        return 0, 0
    runner = RUNNERS[settings.backend](prepared)
    plans = {
        block: runner.plan(
            prepared.tokens.ids[checkpoint.block_slice(block)],
            prepared.tokens.pooled[checkpoint.block_slice(block)],
        )
        for block in pending
    }
    max_batch = max(len(batch.rows) for plan in plans.values() for batch in plan)
    longest = max(
        len(prepared.tokens.ids[checkpoint.block_slice(block)][row])
        for block, plan in plans.items()
        for batch in plan
        for row in batch.rows
    )
    device = torch.device(settings.device)
    rows_done = tokens_done = 0
    # per row, counted once for the progress rate
    pooled_tokens = [sum(row) for row in prepared.tokens.pooled]
    width = checkpoint.n_layers * checkpoint.n_neurons
    with (
        torch.inference_mode(),
        runner.started(max_batch, longest) as run,
        BackgroundWriter(checkpoint.write_block) as writer,
    ):
        bar = tqdm(
            total=sum(len(batch.rows) for plan in plans.values() for batch in plan),
            unit="sample",
            desc=f"extract {checkpoint.name}",
            disable=not progress,
            dynamic_ncols=True,
            smoothing=0.1,
        )
        started = time.perf_counter()  # after the engine's start: the rate is the extraction's own
        landing = BatchLanding(
            max_batch,
            width,
            settings.store_dtype,
            device,
            writer,
            np.array(prepared.labels),
            positive="positive" in settings.stats,
        )
        for block, plan in plans.items():
            span = checkpoint.block_slice(block)
            rows = np.empty((span.stop - span.start, width), dtype=settings.store_dtype)
            norms = np.empty(span.stop - span.start)
            positive = np.empty(rows.shape, dtype=np.uint32) if landing.positive else None
            for index, batch in enumerate(plan):
                # [B, L, K]: the mean over the pooled positions; counts or None
                view, counts = run(batch)
                landing.send(
                    view,
                    counts,
                    (rows, norms, positive),
                    batch.rows,
                    span,
                    block if index == len(plan) - 1 else None,
                )
                tokens_done += sum(pooled_tokens[span.start + row] for row in batch.rows)
                rows_done += len(batch.rows)
                bar.update(len(batch.rows))
                bar.set_postfix_str(
                    f"{tokens_done / (time.perf_counter() - started):,.0f} tok/s", refresh=False
                )
        landing.flush()
    bar.close()
    return rows_done, tokens_done


class BatchLanding:
    """Bring each batch's pooled rows to the host, one batch behind the device.

    Batch j is cast to the store dtype and checked for non-finite rows on the device, then copied
    (non-blocking, into one of two pinned buffers) while batch j+1 is computed; its rows are filed
    when batch j+1 has been launched. A block whose last batch has landed goes to the writer.
    """

    def __init__(
        self,
        max_batch: int,
        width: int,
        store_dtype: str,
        device: torch.device,
        writer: BackgroundWriter,
        labels: np.ndarray,
        positive: bool = False,
    ) -> None:
        self.on_gpu = device.type == "cuda"
        self.positive = positive  # positive counts [B, L, K] int32 land with the rows
        self.host_counts = [
            torch.empty((max_batch, width), dtype=torch.int32, pin_memory=self.on_gpu)
            for _ in range(2 if positive else 0)
        ]
        self.dtype = getattr(torch, store_dtype)
        self.hosts = [
            torch.empty((max_batch, width), dtype=self.dtype, pin_memory=self.on_gpu)
            for _ in range(2)
        ]
        self.flags = [
            torch.empty((2, max_batch), dtype=torch.bool, pin_memory=self.on_gpu) for _ in range(2)
        ]
        self.norms = [
            torch.empty(max_batch, dtype=torch.float32, pin_memory=self.on_gpu) for _ in range(2)
        ]
        self.writer, self.labels = writer, labels
        self.step = 0
        self.in_flight: tuple | None = None

    def send(
        self,
        view: torch.Tensor,
        counts: torch.Tensor | None,
        block_arrays: tuple,
        batch: list[int],
        span: slice,
        block: int | None,
    ) -> None:
        """Land ``view`` [B, L, K] (and the positive ``counts``) into the block's (rows, norms,
        positive) arrays."""
        size = len(batch)
        values = view.reshape(size, -1)  # [B, L*K] float32
        stored = values.to(self.dtype)  # [B, L*K]: no copy for a float32 store
        finite_stored = torch.isfinite(stored).all(dim=1)  # [B]: NaN, inf, or a float16 overflow
        # [B]
        finite_values = finite_stored if stored is values else torch.isfinite(values).all(dim=1)
        finite = torch.stack([finite_stored, finite_values])  # [2, B]
        row_norms = torch.linalg.vector_norm(stored, dim=1, dtype=torch.float32)  # [B]
        host, flags = self.hosts[self.step % 2][:size], self.flags[self.step % 2][:, :size]
        host_norms = self.norms[self.step % 2][:size]
        host.copy_(stored, non_blocking=self.on_gpu)  # the rows' one device-to-host copy
        flags.copy_(finite, non_blocking=self.on_gpu)
        host_norms.copy_(row_norms, non_blocking=self.on_gpu)
        host_counts = None
        if counts is not None:
            host_counts = self.host_counts[self.step % 2][:size]
            host_counts.copy_(counts.reshape(size, -1), non_blocking=self.on_gpu)
        event = torch.cuda.Event() if self.on_gpu else None
        if event is not None:
            event.record()
        self.flush()  # the previous batch, while the device computes this one
        self.in_flight = (
            block_arrays,
            batch,
            span,
            host,
            flags,
            host_norms,
            host_counts,
            event,
            block,
        )
        self.step += 1

    def flush(self) -> None:
        if self.in_flight is None:
            return
        (rows, norms, positive), batch, span, host, flags, host_norms, host_counts, event, block = (
            self.in_flight
        )
        self.in_flight = None
        if event is not None:
            event.synchronize()
        flags = flags.numpy()
        if not flags[0].all():
            bad = self.labels[span][sorted(batch[i] for i in np.flatnonzero(~flags[0]))]
            overflow = (flags[1] & ~flags[0]).any()
            hint = (
                "; they overflow float16: pass `store_dtype` float32"
                if overflow
                else "; try `dtype` float32"
            )
            raise LfeError.naming(f"non-finite activations for {listing(bad)}{hint}")
        rows[batch] = host.numpy()
        norms[batch] = host_norms.numpy()
        if positive is not None and host_counts is not None:
            positive[batch] = host_counts.numpy()
        if block is not None:
            self.writer.submit(block, rows, norms, positive)
