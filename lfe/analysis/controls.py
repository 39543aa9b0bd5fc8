"""Seeded random control regions for deactivation experiments. Takes and returns numpy arrays.

A key region is only special if deactivating it hurts more than deactivating random neurons that
differ from it in nothing but which neurons they are. Every control takes a seed; the seed and
kind are recorded with every number computed from it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from lfe.errors import AnalysisError, Problem

KINDS = ("matched", "layer-matched", "largest")


def language_rng(seed: int, lang: str) -> np.random.Generator:
    """The generator of ``lang``'s control: seeded by the language itself, so a language's twin is
    the same whichever other languages are chosen with it."""
    return np.random.default_rng([seed, *lang.encode("utf-8")])


def random_region(total: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Boolean [total] with exactly ``size`` neurons chosen uniformly without replacement."""
    region = np.zeros(total, dtype=bool)
    region[rng.choice(total, size=size, replace=False)] = True
    return region


def layer_matched_region(region: np.ndarray, n_layers: int, rng: np.random.Generator) -> np.ndarray:
    """A random region with the same number of neurons as ``region`` in every layer."""
    per_layer = region.reshape(n_layers, -1)
    return np.concatenate(
        [random_region(per_layer.shape[1], int(row.sum()), rng) for row in per_layer]
    )


class Controls(NamedTuple):
    """Random control regions by name, and for each the language whose region it is the twin of."""

    regions: dict[str, np.ndarray]
    twins: dict[str, str | None]  # None: a control of no one language (largest, P%)


def control_regions(
    regions: np.ndarray, langs: list[str], n_layers: int, *, kind: str, seed: int
) -> Controls:
    """Named random controls for the key ``regions`` [L, layers x neurons].

    - ``matched``: for each language a random region of its size (``random~en``);
    - ``layer-matched``: the same count in every layer (``layer-random~en``);
    - ``largest``: one random region the size of the largest key region (the paper's);
    - ``P%`` (e.g. ``10%``): one random region of P percent of all neurons (the paper's).
    """
    total = regions.shape[1]
    if kind == "matched":
        return _twins(
            {
                f"random~{lang}": (
                    random_region(total, int(regions[i].sum()), language_rng(seed, lang)),
                    lang,
                )
                for i, lang in enumerate(langs)
            }
        )
    if kind == "layer-matched":
        return _twins(
            {
                f"layer-random~{lang}": (
                    layer_matched_region(regions[i], n_layers, language_rng(seed, lang)),
                    lang,
                )
                for i, lang in enumerate(langs)
            }
        )
    if kind == "largest":
        return Controls(
            {
                "random-largest": random_region(
                    total, int(regions.sum(axis=1).max()), np.random.default_rng(seed)
                )
            },
            {"random-largest": None},
        )
    if kind.endswith("%"):
        try:
            percent = float(kind[:-1])
        except ValueError:
            percent = -1.0
        if not 0 < percent <= 100:
            raise AnalysisError.of(Problem("random", f"{kind}: the percent must be in (0, 100]"))
        size = int(round(total * percent / 100))
        return Controls(
            {f"random-{kind}": random_region(total, size, np.random.default_rng(seed))},
            {f"random-{kind}": None},
        )
    sentence = f"{kind!r} is not one of {', '.join(KINDS)} or a percent such as 10%"
    raise AnalysisError.of(Problem("random", sentence))


def _twins(named: dict[str, tuple[np.ndarray, str]]) -> Controls:
    return Controls(
        {name: region for name, (region, _) in named.items()},
        {name: lang for name, (_, lang) in named.items()},
    )
