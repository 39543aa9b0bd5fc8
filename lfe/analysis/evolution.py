"""Following the measures across checkpoints and model sizes: plain functions on per-checkpoint
numbers."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Protocol, Sequence, TypeVar

import numpy as np
from numpy.typing import ArrayLike

from lfe.records import NullSummary, SeriesTrend

if TYPE_CHECKING:
    pass

# "global_step1000", "checkpoint-1000", "step_1000", "ckpt1000", "iter-1000"; else a name's last
# number
_STEP_WORDS = re.compile(
    r"(?:global_step|checkpoint|step|ckpt|iter|iteration)[-_]?(\d+)", re.IGNORECASE
)
_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")


class _InSeries(Protocol):
    @property
    def series(self) -> str: ...


R = TypeVar("R", bound=_InSeries)


def step_from_name(name: str) -> int | None:
    """The training step a checkpoint's name states ("global_step1000" -> 1000), or None."""
    match = _STEP_WORDS.search(name) or _LAST_NUMBER.search(name)
    return int(match.group(1)) if match else None


def by_series(rows: Sequence[R]) -> dict[str, list[R]]:
    """Rows grouped by their ``series`` attribute, each group in the rows' order."""
    grouped: dict[str, list[R]] = {}
    for row in rows:
        grouped.setdefault(row.series, []).append(row)
    return grouped


def duplicates(hashes: list[str | None]) -> list[int | None]:
    """For each entry, the index of the first earlier entry with the same weights hash, else
    None."""
    first: dict[str, int] = {}
    found = []
    for index, digest in enumerate(hashes):
        found.append(first.get(digest) if digest is not None else None)
        if digest is not None:
            first.setdefault(digest, index)
    return found


def layer_center(counts: ArrayLike) -> float:
    """Where key neurons sit in depth: Σ_m m·c_m / ((M − 1)·Σ_m c_m), 0 = first layer, 1 = last."""
    # [M]
    per_layer = np.asarray(counts, dtype=np.float64).reshape(-1, np.shape(counts)[-1]).sum(axis=0)
    if per_layer.sum() == 0 or per_layer.size < 2:
        return float("nan")
    return float(
        (np.arange(per_layer.size) * per_layer).sum() / ((per_layer.size - 1) * per_layer.sum())
    )


def spearman(x: Sequence[float | None], y: Sequence[float | None]) -> float:
    """Spearman's rank correlation of two sequences (ties get their mean rank).

    Pairs where either value is NaN or None are dropped (a checkpoint without key neurons has no
    depth); with fewer than two pairs left, or a constant sequence, the result is NaN.
    """
    a_values = np.asarray([np.nan if v is None else v for v in x], dtype=np.float64)
    b_values = np.asarray([np.nan if v is None else v for v in y], dtype=np.float64)
    kept = ~(np.isnan(a_values) | np.isnan(b_values))

    def ranks(values: np.ndarray) -> np.ndarray:
        order = np.argsort(values, kind="stable")
        rank = np.empty(len(values))
        rank[order] = np.arange(len(values))
        for value in np.unique(values):  # mean rank for ties
            tied = values == value
            rank[tied] = rank[tied].mean()
        return rank

    a, b = ranks(a_values[kept]), ranks(b_values[kept])
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def above_chance(value: float, null: NullSummary | None) -> float | None:
    """value − E[null]: how far a measure lies above what shuffled labels give (None: no null)."""
    return None if null is None else float(value - null.mean)


def trends(rows: Sequence, x: str) -> dict[str, SeriesTrend]:
    """Per series, Spearman's rank correlation of each measure with ``x`` (+1: grows throughout)."""
    measures = [field.name for field in dataclasses.fields(SeriesTrend)]
    return {
        name: SeriesTrend(
            **{
                key: spearman(
                    [getattr(row, x) for row in series], [getattr(row, key) for row in series]
                )
                for key in measures
            }
        )
        for name, series in by_series(rows).items()
    }
