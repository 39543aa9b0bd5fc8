"""The hot loops of lfe behind one device-independent API.

Callers never branch on the device: each function here picks its implementation. Today every path
is the torch reference (``reference.py``); Triton kernels for CUDA tensors plug in here.
"""

from lfe.kernels.reference import masked_mean_pool_torch


def masked_mean_pool(x, mask, out=None):
    """Per-sample mean of ``x`` [B, T, K] over the tokens where ``mask`` [B, T] is set -> [B, K] float32."""
    return masked_mean_pool_torch(x, mask, out)


__all__ = ["masked_mean_pool", "masked_mean_pool_torch"]
