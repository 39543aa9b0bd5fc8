"""Seeded random control regions: sized like the regions they control, reproducible, twinned by
language."""

import numpy as np

from lfe.analysis.controls import control_regions, layer_matched_region


def test_random_controls_are_seeded_and_sized() -> None:
    regions = np.zeros((3, 40), dtype=bool)
    regions[0, :6], regions[1, 10:13], regions[2, 30:40] = True, True, True
    a = control_regions(regions, ["en", "fr", "zh"], n_layers=4, kind="matched", seed=5)
    b = control_regions(regions, ["en", "fr", "zh"], n_layers=4, kind="matched", seed=5)
    c = control_regions(regions, ["en", "fr", "zh"], n_layers=4, kind="matched", seed=6)
    assert [int(v.sum()) for v in a.regions.values()] == [6, 3, 10]
    assert all(np.array_equal(a.regions[k], b.regions[k]) for k in a.regions)
    assert not all(np.array_equal(a.regions[k], c.regions[k]) for k in a.regions)
    layered = layer_matched_region(regions[2], 4, np.random.default_rng(0))
    assert (
        layered.reshape(4, 10).sum(axis=1).tolist()
        == regions[2].reshape(4, 10).sum(axis=1).tolist()
    )
    assert (
        int(
            control_regions(regions, ["en", "fr", "zh"], 4, kind="largest", seed=0)
            .regions["random-largest"]
            .sum()
        )
        == 10
    )
    assert (
        int(
            control_regions(regions, ["en", "fr", "zh"], 4, kind="25%", seed=0)
            .regions["random-25%"]
            .sum()
        )
        == 10
    )
    assert a.twins == {"random~en": "en", "random~fr": "fr", "random~zh": "zh"}
    # a language's twin is seeded by the language, not by its place among the chosen ones
    alone = control_regions(regions[[2, 0]], ["zh", "en"], n_layers=4, kind="matched", seed=5)
    assert np.array_equal(alone.regions["random~en"], a.regions["random~en"])
    assert np.array_equal(alone.regions["random~zh"], a.regions["random~zh"])
    assert control_regions(regions, ["en", "fr", "zh"], 4, kind="largest", seed=0).twins == {
        "random-largest": None
    }
