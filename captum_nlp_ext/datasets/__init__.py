"""Data loaders of the evaluation suite.

Every loader reads the shared data folder (argument ``data_dir``, else the
environment variable ``CAPTUM_NLP_DATA``, else ``../shared/data``) and returns a
list of :class:`TextExample`; :class:`DatasetFile` reads your own JSONL, CSV,
TSV or ``datasets`` folder lazily, row by row. Word-level gold (rationale masks,
word sentiment) is over whitespace/PTB words; :func:`align_word_labels` carries
it to sub-tokens.
"""

from ._paths import (
    CACHE_ENV_VAR,
    DATA_ENV_VAR,
    MODELS_ENV_VAR,
    resolve_data_dir,
    resolve_models_dir,
    user_cache_dir,
    user_cache_file,
)
from .alignment import align_word_labels
from .eraser import (
    DocumentRationale,
    ERASER_MOVIES_LABELS,
    EraserPrediction,
    load_eraser_movies,
    make_eraser_prediction,
    read_eraser_jsonl,
    write_eraser_jsonl,
)
from .esnli import ESNLI_LABELS, load_esnli
from .files import BadRowError, DatasetFile, FileRow
from .imdb import IMDB_LABELS, imdb_words, load_imdb_sample
from .mr import load_mr, MR_LABELS
from .records import mask_to_spans, PhraseSpan, spans_to_mask, TextExample
from .registry import DATASETS, DatasetSpec
from .sst import (
    centred_word_sentiment,
    load_sst,
    load_sst2,
    parse_sst_tree,
    ParsedTree,
    SST2_LABELS,
    sst_binary_label,
    SST_FINE_LABELS,
    unescape_ptb,
)

__all__ = [
    "DATASETS",
    "DatasetSpec",
    "CACHE_ENV_VAR",
    "DATA_ENV_VAR",
    "MODELS_ENV_VAR",
    "resolve_data_dir",
    "resolve_models_dir",
    "user_cache_dir",
    "user_cache_file",
    "TextExample",
    "DatasetFile",
    "FileRow",
    "BadRowError",
    "PhraseSpan",
    "mask_to_spans",
    "spans_to_mask",
    "load_sst2",
    "load_sst",
    "parse_sst_tree",
    "ParsedTree",
    "unescape_ptb",
    "sst_binary_label",
    "centred_word_sentiment",
    "SST2_LABELS",
    "SST_FINE_LABELS",
    "load_eraser_movies",
    "ERASER_MOVIES_LABELS",
    "DocumentRationale",
    "EraserPrediction",
    "make_eraser_prediction",
    "write_eraser_jsonl",
    "read_eraser_jsonl",
    "load_esnli",
    "ESNLI_LABELS",
    "load_mr",
    "MR_LABELS",
    "load_imdb_sample",
    "imdb_words",
    "IMDB_LABELS",
    "align_word_labels",
]
