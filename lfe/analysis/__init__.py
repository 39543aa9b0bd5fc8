"""Analysis of pooled activations: takes and returns numpy/dask arrays (and records).

Never imports torch, zarr, lfe.engine or lfe.models (a test enforces it): what is computed here
depends on the numbers in a store, never on the model that made them. ``metrics`` holds the
paper's formulas, ``streaming`` the paper's measures over panels, ``checkpoint`` one checkpoint's
whole analysis (with the peers' methods of ``peers``), ``controls`` the random
control regions, ``evolution`` plain functions across checkpoints.
"""

from lfe.analysis.checkpoint import AnalysisResult, analyze
from lfe.errors import AnalysisError

__all__ = ["AnalysisError", "AnalysisResult", "analyze"]
