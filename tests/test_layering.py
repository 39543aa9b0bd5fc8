"""The layer contract: storage and corpus know nothing of models; analysis never imports the engine."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module, forbidden",
    [
        ("lfe.analysis", ["torch", "transformers", "zarr", "lfe.engine"]),
        ("lfe.store", ["torch", "transformers", "lfe.engine"]),
        ("lfe.corpus", ["torch", "transformers", "zarr", "lfe.engine"]),
        ("lfe", ["torch", "transformers", "zarr"]),
        ("lfe.plots", ["torch", "transformers", "lfe.engine"]),
        ("lfe.analyze", ["torch", "transformers", "lfe.engine"]),
    ],
)
def test_module_does_not_import(module, forbidden):
    code = f"import sys, {module}; print([m for m in {forbidden!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
