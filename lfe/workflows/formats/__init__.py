"""The file formats of key regions, one module each (as xarray's backends): ``table`` writes the
tidy table (CSV, or Parquet with pyarrow) that ``lfe.tables`` also gives; ``lape_mask`` writes and
reads LAPE's ``activation_mask``. Each takes and gives a ``Regions``: what a region file holds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lfe.records import AnalysisArrays, AnalysisRecord


@dataclass(frozen=True)
class Regions:
    """One method's regions of one checkpoint, with their scores."""

    languages: tuple[str, ...]
    regions: np.ndarray  # [L, layers x width] bool
    scores: np.ndarray  # [L, layers x width]: the score each neuron was chosen by
    method: str
    checkpoint: str
    n_layers: int

    @classmethod
    def of(
        cls, record: AnalysisRecord, arrays: AnalysisArrays, method: str, n_layers: int
    ) -> Regions:
        """``method``'s regions of the analysis ``record`` and ``arrays`` describe."""
        return cls(
            languages=tuple(record.languages),
            regions=np.asarray(arrays.regions_of(method), dtype=bool),
            scores=np.asarray(arrays.scores_of(method)),
            method=method,
            checkpoint=record.checkpoint,
            n_layers=n_layers,
        )

    @property
    def width(self) -> int:
        """Neurons in a layer."""
        return self.regions.shape[1] // self.n_layers
