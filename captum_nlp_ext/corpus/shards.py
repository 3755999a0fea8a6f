"""The output of ``captum-nlp attribute``: sharded Parquet files (schema 1).

A run folder holds ``manifest.json`` (the run's settings, written by rank 0,
and its summary once every rank is done) and ``shards/part-NNNNNN.parquet``:
shard ``k`` holds the rows of examples ``k * shard_size`` to ``(k + 1) *
shard_size - 1``, one row per (example, method), written once, whole, by the
one process that explained them (a temporary file renamed into place, so a
shard is either complete or absent). The columns (:data:`COLUMNS`):

=================  ==================  ==========================================
column             type                meaning
=================  ==================  ==========================================
``example``        int64               the example's number (its row in the
                                       input, from 0); with the run's seed, its
                                       seed
``example_id``     string              the input's id field, else the number
``method``         string              the registered method's name
``words``          list<string>        the words the model read (cut texts lose
                                       their tail)
``word_scores``    list<float16/32>    one score per word (positive = evidence
                                       for ``prediction``)
``tokens``         list<string>        the tokens the model read, specials in
``token_scores``   list<float16/32>    one score per token (specials 0)
``prediction``     int64               the class explained (the predicted one)
``probability``    float32             its probability
``label``          int64, nullable     the gold label, where the input has one
``failed``         string, nullable    why the example could not be explained
                                       (then the lists are empty)
=================  ==================  ==========================================

The file's key-value metadata holds, under ``captum_nlp_ext``, the JSON of the
run's settings (model, classes, methods and their settings, seed, budget,
lengths, score dtype, schema); :func:`read_metadata` returns it. Read the rows
with :func:`read_attributions`, ``pandas.read_parquet(folder / "shards")``,
``polars.read_parquet(folder / "shards/*.parquet")`` or
``datasets.load_dataset("parquet", data_files=...)``.
"""

import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from captum_nlp_ext._utils.files import atomic_path
from captum_nlp_ext._utils.types import PathLike

SCHEMA_VERSION = 1
METADATA_KEY = b"captum_nlp_ext"
SHARDS_DIR = "shards"
SCORE_DTYPES = ("float16", "float32")
COLUMNS = (
    "example",
    "example_id",
    "method",
    "words",
    "word_scores",
    "tokens",
    "token_scores",
    "prediction",
    "probability",
    "label",
    "failed",
)


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ImportError(
            "Parquet output needs pyarrow: pip install 'captum-nlp-ext[corpus]' "
            "(or pip install pyarrow)."
        ) from None
    return pyarrow


def shard_name(shard: int) -> str:
    """The file of shard number ``shard``."""
    return f"part-{shard:06d}.parquet"


def shard_number(path: Path) -> Optional[int]:
    """The number of a shard file, None for any other file."""
    name = path.name
    if not (name.startswith("part-") and name.endswith(".parquet")):
        return None
    digits = name[len("part-") : -len(".parquet")]
    return int(digits) if digits.isdigit() else None


def schema(score_dtype: str = "float16", metadata: Optional[Mapping] = None) -> Any:
    """The shards' Arrow schema, with the run's settings as metadata."""
    pa = _pyarrow()
    if score_dtype not in SCORE_DTYPES:
        raise ValueError(
            f"`score_dtype` must be one of {SCORE_DTYPES}; got {score_dtype!r}."
        )
    score = pa.float16() if score_dtype == "float16" else pa.float32()
    fields = [
        pa.field("example", pa.int64(), nullable=False),
        pa.field("example_id", pa.string(), nullable=False),
        pa.field("method", pa.string(), nullable=False),
        pa.field("words", pa.list_(pa.string())),
        pa.field("word_scores", pa.list_(score)),
        pa.field("tokens", pa.list_(pa.string())),
        pa.field("token_scores", pa.list_(score)),
        pa.field("prediction", pa.int64()),
        pa.field("probability", pa.float32()),
        pa.field("label", pa.int64()),
        pa.field("failed", pa.string()),
    ]
    meta = None
    if metadata is not None:
        meta = {METADATA_KEY: json.dumps(metadata, sort_keys=True).encode()}
    return pa.schema(fields, metadata=meta)


def write_shard(
    path: Path,
    rows: Sequence[Mapping[str, Any]],
    metadata: Mapping[str, Any],
    score_dtype: str = "float16",
) -> None:
    """Write one shard whole: to a temporary file, synced, renamed into place."""
    pa = _pyarrow()
    import numpy as np
    import pyarrow.parquet as pq

    table_schema = schema(score_dtype, metadata)
    numpy_dtype = np.float16 if score_dtype == "float16" else np.float32
    columns: Dict[str, List[Any]] = {name: [] for name in COLUMNS}
    for row in rows:
        for name in COLUMNS:
            value = row.get(name)
            if name in ("word_scores", "token_scores"):
                value = np.asarray(value or [], dtype=numpy_dtype)
            columns[name].append(value)
    table = pa.Table.from_pydict(columns, schema=table_schema)
    with atomic_path(path) as temporary:
        pq.write_table(table, temporary)


def shard_files(run_dir: PathLike) -> List[Path]:
    """The run's complete shards, in shard order."""
    folder = Path(run_dir) / SHARDS_DIR
    if not folder.is_dir():
        return []
    numbered = [(shard_number(p), p) for p in folder.iterdir()]
    return [p for n, p in sorted((n, p) for n, p in numbered if n is not None)]


def read_metadata(path: PathLike) -> Dict[str, Any]:
    """The settings stored in a shard (a file, or a run folder's first shard)."""
    _pyarrow()
    import pyarrow.parquet as pq

    path = Path(path)
    if path.is_dir():
        files = shard_files(path)
        if not files:
            raise FileNotFoundError(f"{path} holds no shards ({SHARDS_DIR}/part-*).")
        path = files[0]
    meta = pq.read_schema(path).metadata or {}
    if METADATA_KEY not in meta:
        raise ValueError(f"{path} is not a captum-nlp-ext shard (no settings).")
    return json.loads(meta[METADATA_KEY])


def read_attributions(
    run_dir: PathLike, columns: Optional[Sequence[str]] = None
) -> Any:
    """Every row of a run folder as a pandas DataFrame, in (example, method
    order of the run) order.

    Args:
        run_dir (path): The folder ``captum-nlp attribute`` wrote.
        columns (sequence of str, optional): Columns to read. Default: None (all)
    """
    _pyarrow()
    import pyarrow.parquet as pq

    files = shard_files(run_dir)
    if not files:
        raise FileNotFoundError(f"{run_dir} holds no shards ({SHARDS_DIR}/part-*).")
    tables = [
        pq.read_table(f, columns=list(columns) if columns else None) for f in files
    ]
    import pyarrow as pa

    return pa.concat_tables(tables).to_pandas()
