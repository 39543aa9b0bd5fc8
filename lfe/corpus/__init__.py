"""Parallel corpora: read, check, select and write rows of (language, semantic id, text).

The same ``sid`` in two languages means the two texts are translations. Everything here is plain
Python: no torch, no zarr. A corpus is checked completely before any model is loaded, and every
problem is reported with the file, line, languages or sids at fault. ``sources/`` fetches real
corpora onto the user's machine.
"""

from lfe.corpus.corpus import Corpus, Record, row_label, select
from lfe.corpus.read import read_corpus, read_records
from lfe.corpus.write import write_directory, write_tsv

__all__ = [
    "Corpus",
    "Record",
    "read_corpus",
    "read_records",
    "row_label",
    "select",
    "write_directory",
    "write_tsv",
]
