"""lfe's hooks inside vLLM's worker: the neurons of vLLM's own model classes, pooled per prompt on
the device.

Everything here runs where the model is, through ``LLM.apply_model`` (in this process when vLLM runs
in-process, in each tensor-parallel worker otherwise): module-level functions of the model, with
their state kept on it, so they pickle by name.

vLLM runs the requests of a step as one flat [tokens, K] tensor. With chunked prefill off every
prompt runs whole within one step, so a forward pre-hook on the model cuts the step's ``positions``
where they are 0 and finds each piece among the batch's prompts by its token ids (duplicates in
order); each layer's hook then pools those prompts' pooled tokens (``lfe.kernels.packed_mean_pool``)
straight into the batch's [B, L, K] buffer. Worked example, two prompts of a batch of three, <bos>
(2) left out::

    input_ids = [2, 7, 8, 9, 2, 5]    positions = [0, 1, 2, 3, 0, 1]    # one step, 6 tokens
    batch     = {row 0: [2, 5], row 2: [2, 7, 8, 9]}                     # row 1 runs in another
    step pieces    = tokens 0:4 -> row 2, tokens 4:6 -> row 0
    pooled    = [1, 2, 3, 5]    offsets = [0, 3, 4]    rows = [2, 0]      # the pooled tokens,
    packed buffer[2, layer] = mean(x[1:4]),  buffer[0, layer] = x[5]             # x: the layer's
    [6, K]
"""

from __future__ import annotations

from collections import defaultdict, deque
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from lfe.kernels import packed_mean_pool, packed_positive_count
from lfe.models.families.base import NeuronSite, VllmPoints, numbered_modules
from lfe.models.forcing import forced

if TYPE_CHECKING:
    from typing import Any

STATE = "_lfe_state"  # the attribute of vLLM's model that holds lfe's state in each worker


class VllmSite(NeuronSite):
    """A family's ``VllmPoints`` bound to one vLLM model: its neurons are the input of a
    projection."""

    read = "input"

    def __init__(self, model: torch.nn.Module, points: VllmPoints, family: str) -> None:
        self.name = family
        if points.activation is not None:  # the family's own activation where vLLM computes another
            parent, attribute, make = points.activation
            for module in numbered_modules(model, parent, family):
                setattr(module, attribute, make())
        self.neuron_modules = numbered_modules(model, points.neurons, family)
        self.firing_modules = numbered_modules(model, points.gate, family) if points.gate else None
        # vLLM's CPU build prepacks the weight and leaves an empty tensor: the layer's own width
        # field
        self.n_neurons = int(self.neuron_modules[0].input_size_per_partition)

    def firing_values(self, output: Any) -> torch.Tensor:
        """The gate half of a fused gate-up projection's output ([gate | up] on this worker's
        shard)."""
        # vLLM's linear layers return (out, bias)
        values = output[0] if isinstance(output, tuple) else output
        return values[..., : values.shape[-1] // 2]


@dataclass
class StepLayout:
    """Where one step's prompts are in its flat token tensor, for the layer hooks."""

    rows: torch.Tensor  # [S] batch row of each prompt found in this step
    pooled: torch.Tensor  # [P] indices of their pooled tokens, prompt after prompt
    offsets: torch.Tensor  # [S + 1] each prompt's span in ``pooled``


class WorkerState:
    """The batch being run and its pooled rows; the forced neurons; kept on vLLM's model as
    ``STATE``."""

    def __init__(self, site: VllmSite, max_rows: int, positive: bool, rank: int) -> None:
        device = next(site.neuron_modules[0].parameters()).device
        self.site, self.rank = site, rank
        self.sums = torch.zeros(
            (max_rows, site.n_layers, site.n_neurons), dtype=torch.float32, device=device
        )
        self.counts = (
            torch.zeros(self.sums.shape, dtype=torch.int32, device=device) if positive else None
        )
        self.waiting: dict[tuple[int, ...], deque[int]] = {}
        self.pooled_positions: list[list[int]] = []
        self.layout: StepLayout | None = None
        self.steps = 0
        self.hooks = ExitStack()  # the pooling hooks, for the model's lifetime
        self.forcing = ExitStack()  # the forced neurons of the current evaluation, if any

    def begin(self, prompts: list[list[int]], pooled: list[list[bool]]) -> None:
        waiting: dict[tuple[int, ...], deque[int]] = defaultdict(deque)
        for row, ids in enumerate(prompts):
            waiting[tuple(ids)].append(row)
        self.waiting, self.steps = dict(waiting), 0
        self.pooled_positions = [np.flatnonzero(row).tolist() for row in pooled]

    def step(self, input_ids: torch.Tensor, positions: torch.Tensor) -> None:
        """Find this step's prompts among the waiting ones (model forward pre-hook)."""
        self.layout = None
        if not self.waiting:
            return
        ids, starts = (
            input_ids.tolist(),
            torch.nonzero(positions == 0).flatten().tolist() + [len(input_ids)],
        )
        rows, pooled, offsets = [], [], [0]
        for start, stop in zip(starts, starts[1:]):
            queue = self.waiting.get(tuple(ids[start:stop]))
            if not queue:
                continue  # not a whole prompt of this batch: padding the runner added
            row = queue.popleft()
            rows.append(row)
            pooled += [start + position for position in self.pooled_positions[row]]
            offsets.append(len(pooled))
        self.waiting = {key: queue for key, queue in self.waiting.items() if queue}
        self.steps += 1
        if rows:
            device = self.sums.device
            self.layout = StepLayout(
                torch.as_tensor(rows, device=device),
                torch.as_tensor(pooled, device=device),
                torch.as_tensor(offsets, device=device),
            )

    def pool(self, layer: int, neurons: torch.Tensor) -> None:
        if self.layout is not None:  # [S, K] means of each prompt's pooled tokens, float32
            self.sums[self.layout.rows, layer] = packed_mean_pool(
                neurons[self.layout.pooled], self.layout.offsets
            )

    def count(self, layer: int, values: torch.Tensor) -> None:
        if self.layout is not None and self.counts is not None:
            self.counts[self.layout.rows, layer] = packed_positive_count(
                values[self.layout.pooled], self.layout.offsets
            )

    def shard(self, mask: np.ndarray) -> np.ndarray:
        """This worker's neurons of a [layers x all neurons] array (tensor parallelism splits each
        layer's)."""
        width = self.site.n_neurons
        return (
            np.asarray(mask)
            .reshape(self.site.n_layers, -1)[:, self.rank * width : (self.rank + 1) * width]
            .reshape(-1)
        )


def _state(model: torch.nn.Module) -> WorkerState:
    return getattr(model, STATE)


def bind(
    model: torch.nn.Module, points: VllmPoints, family: str, max_rows: int, positive: bool
) -> tuple[int, int]:
    """Install lfe's hooks on this worker's model; returns its (layers, neurons per layer)."""
    from vllm.distributed import get_tensor_model_parallel_rank

    site = VllmSite(model, points, family)
    state = WorkerState(site, max_rows, positive, get_tensor_model_parallel_rank())
    setattr(model, STATE, state)

    def step_hook(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        positions = kwargs.get("positions", args[1] if len(args) > 1 else None)
        state.step(input_ids, positions)

    model.register_forward_pre_hook(step_hook, with_kwargs=True)
    state.hooks.enter_context(site.on_neurons(state.pool))
    if positive:
        state.hooks.enter_context(site.on_firing(state.count))
    return site.n_layers, site.n_neurons


def begin(model: torch.nn.Module, prompts: list[list[int]], pooled: list[list[bool]]) -> None:
    """The next ``generate`` runs these prompts (a batch's token ids and pooled positions)."""
    _state(model).begin(prompts, pooled)


def take(
    model: torch.nn.Module, rows: int, to_host: bool
) -> tuple[torch.Tensor, torch.Tensor | None, list[int], int]:
    """(pooled [rows, L, K] float32, positive counts or None, rows never seen whole, steps) of the
    last batch."""
    state = _state(model)
    missing = sorted(row for queue in state.waiting.values() for row in queue)
    sums = state.sums[:rows]
    counts = None if state.counts is None else state.counts[:rows]
    if to_host:  # another process: only host tensors travel
        sums, counts = sums.cpu(), None if counts is None else counts.cpu()
    return sums, counts, missing, state.steps


def force(model: torch.nn.Module, mask: np.ndarray, values: np.ndarray) -> None:
    """Hold the neurons where ``mask`` [L x all neurons] is True at ``values`` until ``release``."""
    state = _state(model)
    state.forcing.close()
    state.forcing.enter_context(forced(state.site, state.shard(mask), state.shard(values)))


def release(model: torch.nn.Module) -> None:
    """Let the forced neurons go (a no-op when none are held)."""
    _state(model).forcing.close()
