"""lfe, the Lingua Franca Engine: where does a multilingual model keep each language?

The package is layered: ``lfe.corpus`` and ``lfe.store`` know nothing of models, ``lfe.analysis``
works on arrays only, ``lfe.engine`` runs models, ``lfe.cli`` is a thin shell over all of them.
Importing ``lfe`` imports none of torch, transformers or zarr.
"""

__version__ = "0.1.0"
