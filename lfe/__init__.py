"""lfe, the Lingua Franca Engine: where does a multilingual model keep each language?

The package is layered: ``lfe.records`` (typed records), ``lfe.corpus`` and ``lfe.store`` know
nothing of models; ``lfe.analysis`` works on arrays only; ``lfe.models`` loads models and knows
their families, ``lfe.engine`` extracts with them and ``lfe.intervene`` deactivates their neurons;
``lfe.workflows`` wires these into the library call behind each command, ``lfe.report`` writes what
a person reads, and ``lfe.cli`` is a thin shell over the workflows. Importing ``lfe`` imports none
of torch, transformers or zarr.
"""

__version__ = "0.1.0"
