"""The analysis's per-panel arithmetic with torch (``lfe.analysis.streaming.NumpyPanels``'s twins).

``TorchPanels``: on a torch device, the Gram is one float32 matmul and the language sums are the
grouped column statistics kernel (Triton on CUDA) over the normalised rows; a block is copied to the
device once for both. ``CpuPanels``: numpy's arithmetic on the CPU (its Gram of a block with itself
is BLAS's symmetric product), with float16 rows widened by torch's vectorised conversion, about ten
times numpy's (exact either way).
"""

from __future__ import annotations

import numpy as np
import torch

from lfe.analysis.streaming import NumpyPanels
from lfe.errors import LfeError, Problem
from lfe.kernels import grouped_column_stats
from lfe.records import parse_device


def widened(block: np.ndarray) -> np.ndarray:
    """``block`` as float32 numpy; float16 through torch's vectorised conversion of a contiguous
    copy (numpy converts element by element)."""
    if block.dtype != np.float16:
        return block.astype(np.float32, copy=False)
    return torch.from_numpy(np.ascontiguousarray(block)).float().numpy()


class CpuPanels(NumpyPanels):
    """numpy's panel arithmetic, with float16 blocks widened by torch on one thread: torch's
    OpenMP threads, left spinning after a parallel conversion, slow BLAS's threads by a third."""

    name = "numpy"  # the same numbers as NumpyPanels, bit for bit: the widening is exact

    def float32(self, block: np.ndarray) -> np.ndarray:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return widened(block)
        finally:
            torch.set_num_threads(threads)


class TorchPanels:
    def __init__(self, device: str = "cuda") -> None:
        self.device = torch.device(parse_device(device))
        if self.device.type == "cuda" and not torch.cuda.is_available():
            problem = Problem(
                "device", f"{device}: this machine has no CUDA device; use `device` cpu"
            )
            raise LfeError.of(problem)
        self.name = f"torch-{self.device.type}"
        self._last: tuple[np.ndarray, torch.Tensor] | None = None

    def float32(self, block: np.ndarray) -> np.ndarray:
        return widened(block)

    def _on_device(self, block: np.ndarray) -> torch.Tensor:
        if self._last is None or self._last[0] is not block:
            self._last = (
                block,
                torch.from_numpy(np.ascontiguousarray(block)).to(self.device, torch.float32),
            )
        return self._last[1]

    def gram(self, block: np.ndarray) -> np.ndarray:
        """block · blockᵀ [n, n], float32 products (no TF32), as float64 numpy."""
        values = self._on_device(block)
        return (values @ values.T).double().cpu().numpy()

    def language_sums(
        self, block: np.ndarray, grid: np.ndarray, norms: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(Σ_i a_ik, Σ_i a_ik²) over each language's rows, a = block / norms: [L, K] each, float64
        numpy."""
        language = np.empty(block.shape[0], dtype=np.int64)
        for index, rows in enumerate(grid):
            language[rows] = index
        scale = torch.from_numpy(1.0 / np.asarray(norms, dtype=np.float64)).to(
            self.device, torch.float32
        )
        normalised = self._on_device(block) * scale[:, None]
        sums, squares, _ = grouped_column_stats(
            normalised, torch.from_numpy(language).to(self.device), len(grid)
        )
        return sums.double().cpu().numpy(), squares.double().cpu().numpy()
