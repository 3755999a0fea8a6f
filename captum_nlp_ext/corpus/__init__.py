"""Attributions for whole corpora: streamed input, sharded Parquet output, and
data-parallel runs under ``torchrun`` (``captum-nlp attribute``).

What a run explains and how are the benchmark's
:class:`~captum_nlp_ext.benchmark.DataSource` and
:class:`~captum_nlp_ext.benchmark.RunSettings`.
"""

from captum_nlp_ext.corpus.attribute import attribute_corpus, CorpusRun
from captum_nlp_ext.corpus.shards import (
    COLUMNS,
    read_attributions,
    read_metadata,
    SCHEMA_VERSION,
)

__all__ = [
    "COLUMNS",
    "CorpusRun",
    "SCHEMA_VERSION",
    "attribute_corpus",
    "read_attributions",
    "read_metadata",
]
