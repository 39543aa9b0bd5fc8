"""The library call behind each command: analyze, ablate, evolve, check, demo.

A workflow wires the layers together and adds nothing of its own: the store hands over arrays and
records, ``lfe.analysis`` computes, ``lfe.models``/``lfe.intervene`` run models where needed, the
store keeps the results with their parameters, and ``lfe.report`` writes what a person reads.
Each takes a settings record and returns records; the CLI only parses options into them.
"""
