"""Analysis of pooled activations: takes and returns numpy/dask arrays.

Never imports torch, zarr or lfe.engine (a test enforces it): what is computed here depends on the
numbers in a store, never on the model that made them.
"""

from lfe.analysis.metrics import (
    AnalysisError, contribution_scores, key_regions, label_grid, language_sums, layer_counts, lrds,
    lrds_sads_with_intervals, max_zscore, pair_means, region_overlap, sads, similarity, zscores,
)
from lfe.analysis.run import AnalysisResult, analyze

__all__ = [
    "AnalysisError", "AnalysisResult", "analyze", "contribution_scores", "key_regions", "label_grid",
    "language_sums", "layer_counts", "lrds", "lrds_sads_with_intervals", "max_zscore", "pair_means",
    "region_overlap", "sads", "similarity", "zscores",
]
