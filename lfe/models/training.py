"""A small, seeded training run of a BLOOM-family model from scratch: a real checkpoint series on a
CPU.

No published checkpoint series can be downloaded everywhere lfe runs, so this makes one: a
byte-level BLOOM model (``tiny.SIZES``) trained on the texts of a parallel corpus, saved with
``save_pretrained`` at chosen steps as ``checkpoint-<step>`` folders (each with the Trainer's
``trainer_state.json``, so ``lfe extract --checkpoints`` and ``lfe evolve`` read the step). Same
seed, same texts, same series.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lfe.errors import LfeError
from lfe.models.tiny import byte_tokenizer, tiny_config
from lfe.records import Record


def default_save_steps(steps: int, count: int = 8) -> list[int]:
    """Step 0 and ``count - 1`` steps spaced evenly in log scale up to ``steps`` (early change is
    fastest)."""
    spaced = np.unique(np.round(np.geomspace(1, steps, count - 1)).astype(int))
    return [0, *spaced.tolist()]


def seeded_subset(texts: list[str], size: int, seed: int) -> list[str]:
    """At most ``size`` of ``texts``, drawn with ``seed``, in their order (all of them when
    fewer)."""
    if len(texts) <= size:
        return list(texts)
    return [
        texts[i]
        for i in sorted(np.random.default_rng(seed).choice(len(texts), size, replace=False))
    ]


@dataclass(frozen=True)
class TrainingSettings(Record):
    """Everything that decides the weights of a training run (recorded in each
    trainer_state.json)."""

    steps: int = 300
    size: str = "train"  # one of lfe.models.tiny.SIZES
    seq_len: int = 128
    batch: int = 16
    learning_rate: float = 2e-3
    seed: int = 0

    def __post_init__(self) -> None:
        from lfe.errors import Problem
        from lfe.models.tiny import SIZES
        from lfe.records.base import not_one_of, not_positive, refuse

        refuse(
            not_positive(steps=self.steps, seq_len=self.seq_len, batch=self.batch)
            + not_one_of("size", self.size, tuple(SIZES))
            + (
                [Problem("learning_rate", f"must be positive, got {self.learning_rate}")]
                if not self.learning_rate > 0
                else []
            )
        )


def train_series(
    texts: list[str],
    out: str | Path,
    settings: TrainingSettings = TrainingSettings(),
    *,
    save_steps: list[int] | None = None,
    progress: bool = True,
) -> list[Path]:
    """Train a byte-level BLOOM model on ``texts``; save it at ``save_steps``; the checkpoint
    folders."""
    from tqdm import tqdm
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    steps = settings.steps
    save_steps = sorted(set(save_steps if save_steps is not None else default_save_steps(steps)))
    if not save_steps or save_steps[0] < 0 or save_steps[-1] > steps:
        raise LfeError.naming(
            f"save steps must lie between 0 and `steps` {steps}, got {save_steps}"
        )
    rng = np.random.default_rng(settings.seed)
    stream = _token_stream(texts, rng, settings.seq_len)
    model, optimizer, schedule = _trainer(settings)
    saved = [_save(model, Path(out), 0, None, settings, len(texts))] if 0 in save_steps else []
    bar = tqdm(range(1, steps + 1), desc="train", unit="step", disable=not progress)
    for step in bar:
        starts = rng.integers(0, len(stream) - settings.seq_len - 1, size=settings.batch)
        window = torch.from_numpy(
            np.stack([stream[s : s + settings.seq_len + 1] for s in starts])
        ).long()
        loss = model(input_ids=window[:, :-1], labels=window[:, :-1]).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        bar.set_postfix(loss=f"{float(loss.detach()):.3f}", refresh=False)
        if step in save_steps:
            saved.append(_save(model, Path(out), step, float(loss.detach()), settings, len(texts)))
    bar.close()
    return saved


def _token_stream(texts: list[str], rng: np.random.Generator, seq_len: int) -> np.ndarray:
    """Every text's byte tokens and an end-of-text token, the texts in a seeded order, as one
    stream."""
    tokenizer = byte_tokenizer()
    stream = np.concatenate(
        [
            np.array(
                tokenizer(texts[i] + "\n", add_special_tokens=False)["input_ids"]
                + [tokenizer.eos_token_id]
            )
            for i in rng.permutation(len(texts))
        ]
    )
    if len(stream) < seq_len + 1:
        raise LfeError.naming(
            f"the texts hold {len(stream)} tokens; training needs more than `seq_len` {seq_len}"
        )
    return stream


def _trainer(settings: TrainingSettings) -> Any:
    """(a seeded fresh BLOOM model in training mode, AdamW, warm-up then cosine schedule)."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(settings.seed)
    model = AutoModelForCausalLM.from_config(tiny_config("bloom", settings.size))
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=0.01)
    steps, warmup = settings.steps, max(1, settings.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: (
            min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps))
        ),
    )
    return model, optimizer, schedule


def _save(
    model: torch.nn.Module,
    out: Path,
    step: int,
    loss: float | None,
    settings: TrainingSettings,
    n_texts: int,
) -> Path:
    """``checkpoint-<step>``: the model, its tokenizer and a trainer_state.json with the step and
    settings."""
    folder = out / f"checkpoint-{step}"
    model.save_pretrained(folder)
    byte_tokenizer().save_pretrained(folder)
    state = {
        "global_step": step,
        "loss": loss,
        **settings.to_dict(),
        "texts": n_texts,
        "tokens_seen": step * settings.batch * settings.seq_len,
    }
    (folder / "trainer_state.json").write_text(json.dumps(state, indent=2))
    return folder
