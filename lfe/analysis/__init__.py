"""Analysis of pooled activations: takes and returns numpy/dask arrays.

Never imports torch, zarr or lfe.engine (a test enforces it): what is computed here depends on the
numbers in a store, never on the model that made them.
"""
