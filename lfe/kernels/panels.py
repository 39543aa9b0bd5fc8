"""The analysis's per-panel arithmetic on a torch device (``lfe.analysis.streaming.NumpyPanels``'s
twin).

The Gram is one float32 matmul; the language sums are the grouped column statistics kernel (Triton
on CUDA) over the normalised rows. A block is copied to the device once for both.
"""

from __future__ import annotations

import numpy as np
import torch

from lfe.errors import LfeError, Problem
from lfe.kernels import grouped_column_stats
from lfe.records import parse_device


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
