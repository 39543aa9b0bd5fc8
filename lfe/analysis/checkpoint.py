"""One checkpoint's whole analysis: the paper's measures (``streaming``) and the peers' methods
that the settings name (``peers``), as one frozen result that gives the record and the arrays the
store keeps."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from lfe.analysis.metrics import layer_counts, region_overlap
from lfe.analysis.peers import PeerResult, peer_methods
from lfe.analysis.streaming import PaperMeasures, paper_measures
from lfe.records import AnalysisArrays, AnalysisRecord, AnalysisSettings


@dataclass(frozen=True)
class AnalysisResult(PaperMeasures):
    """Everything one checkpoint's analysis computes: the paper's measures, the shape they were
    computed on, and the peers' methods; arrays are numpy, rows in the input's order."""

    n_layers: int
    n_neurons: int
    peers: PeerResult | None = None  # the peers' methods, when the settings name any

    @cached_property
    def overlap(self) -> np.ndarray:
        """[L, L] neurons in both languages' regions."""
        return region_overlap(self.regions)

    @cached_property
    def counts(self) -> np.ndarray:
        """[L, layers] each language's key neurons in each layer."""
        return layer_counts(self.regions, self.n_layers)

    @property
    def region_sizes(self) -> dict[str, int]:
        return {lang: int(size) for lang, size in zip(self.langs, self.regions.sum(axis=1))}

    @property
    def sklr(self) -> int:
        """SKLR: the sizes of all languages' key regions, summed."""
        return int(self.regions.sum())

    def record(self) -> AnalysisRecord:
        """The numbers with the parameters that produced them (the store adds where they came
        from)."""
        total = self.n_layers * self.n_neurons
        return AnalysisRecord(
            params=self.params,
            languages=tuple(self.langs),
            n_sids=len(self.sids),
            whole=self.whole,
            layers=tuple(self.layers),
            sklr=self.sklr,
            sklr_percent=100 * self.sklr / total,
            region_sizes=self.region_sizes,
            region_percent={lang: 100 * size / total for lang, size in self.region_sizes.items()},
            key_neurons_per_layer={
                lang: self.counts[i].tolist() for i, lang in enumerate(self.langs)
            },
            overlap=self.overlap.tolist(),
            n_layers=self.n_layers,
            n_neurons=self.n_neurons,
            region_null=self.region_null,
            methods=self.peers.records if self.peers else {},
            agreement=self.peers.agreement if self.peers else None,
        )

    def arrays(self) -> AnalysisArrays:
        """What the store keeps beside the record."""
        return AnalysisArrays(
            self.similarity,
            self.zscores,
            self.regions,
            self.counts,
            **(self.peers.arrays() if self.peers else {}),
        )


def analyze(
    pooled: Any,
    langs: Any,
    sids: Any,
    n_layers: int,
    n_neurons: int,
    *,
    settings: AnalysisSettings = AnalysisSettings(),
    positive: Any = None,
    n_tokens: np.ndarray | None = None,
    progress: bool = False,
    norms: np.ndarray | None = None,
    panels_math: Any = None,
) -> AnalysisResult:
    """The paper's measures of ``pooled`` and the regions of each of ``settings.peers.methods``.

    Parameters
    ----------
    pooled : numpy or dask array [n, n_layers * n_neurons]
        Mean-pooled activations, layer-major columns, any float dtype.
    langs, sids : sequences of n labels
        Pairs are chosen by these, so the row order does not matter.
    settings : the key-region rule, bootstrap, nulls and seed, and the peers' methods to run.
    positive, n_tokens : [n, n_layers * n_neurons] counts of pooled tokens each neuron fired on, and
        [n] pooled tokens per row (``lfe extract --stats positive``): LAPE needs them.
    norms : optional [n] L2 norms of the rows over all layers; with them, one pass instead of two.
    panels_math : the Gram and language sums of each block (default numpy).
    """
    measures: PaperMeasures = paper_measures(
        pooled,
        langs,
        sids,
        n_layers,
        n_neurons,
        settings=settings,
        progress=progress,
        norms=norms,
        panels_math=panels_math,
    )
    peers = None
    if settings.peers.methods:
        peers = peer_methods(
            pooled,
            positive,
            n_tokens,
            measures.grid,
            measures.langs,
            n_layers,
            n_neurons,
            measures.regions,
            peers=settings.peers,
            seed=settings.seed,
            null_neurons=settings.null_neurons,
            progress=progress,
        )
    return AnalysisResult(
        **vars(measures),
        n_layers=n_layers,
        n_neurons=n_neurons,
        peers=peers,
    )
