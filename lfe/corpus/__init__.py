"""Parallel corpora: read, check and select rows of (language, semantic id, text).

The same ``sid`` in two languages means the two texts are translations. Everything here is plain
Python: no torch, no zarr. A corpus is checked completely before any model is loaded, and every
problem is reported with the file, line, languages or sids at fault.
"""

from lfe.corpus.model import Corpus, Record, select
from lfe.corpus.read import read_corpus, read_records

__all__ = ["Corpus", "Record", "read_corpus", "read_records", "select"]
