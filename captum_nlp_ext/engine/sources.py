"""Where a run's examples come from: a named data set, a file or folder, or a
list of examples; the one reader of a :class:`DataSource` behind the benchmark
and the corpus runs.

Every source numbers its rows from 0 and gives them as
:class:`~captum_nlp_ext.datasets.files.FileRow`, so that a run treats a JSONL
file and SST-2 alike; a file is read lazily, a named data set's split (a few
thousand examples at most) is loaded up to the source's ``n``.
"""

import os
from pathlib import Path
from typing import Container, Dict, Iterator, List, Optional, Sequence

from captum_nlp_ext._utils.types import PathLike
from captum_nlp_ext.datasets import TextExample
from captum_nlp_ext.datasets.files import DatasetFile, FileRow, FORMATS
from captum_nlp_ext.datasets.registry import DATASETS, DatasetSpec, named_split
from captum_nlp_ext.engine.settings import DataSource


class Source:
    """The rows of a run (the interface; see :func:`open_source`)."""

    name: str
    split: Optional[str]
    #: A file's fields (None for other sources).
    fields: Optional[Dict[str, Optional[str]]] = None
    #: A named data set's registry entry (None for other sources).
    spec: Optional[DatasetSpec] = None
    #: A file's path (None for other sources).
    path: Optional[Path] = None

    def rows(self, numbers: Optional[Container[int]] = None) -> Iterator[FileRow]:
        raise NotImplementedError

    def count(self) -> int:
        raise NotImplementedError

    def reference_texts(self, pool: int) -> List[str]:
        """The first ``pool`` texts of the training split: LAFA's reference
        pool, the texts DiffMask's probe is fitted on."""
        raise ValueError(
            "methods `lafa` and `diffmask` need reference texts (a training split: "
            f"the reference pool, the probe's texts) and {self.name} has none: "
            "pass `reference_texts`."
        )

    def reference_label(self) -> Optional[str]:
        """Where :meth:`reference_texts` come from, for the run's record."""
        return None


class _FileSource(Source):
    def __init__(self, file: DatasetFile) -> None:
        self.file, self.name, self.split = file, file.name, file.split
        self.fields, self.path = dict(file.fields), Path(file.path)

    def rows(self, numbers: Optional[Container[int]] = None) -> Iterator[FileRow]:
        return self.file.rows(numbers)

    def count(self) -> int:
        return self.file.count()


class _ListSource(Source):
    def __init__(
        self,
        name: str,
        split: Optional[str],
        examples: Sequence[TextExample],
        spec: Optional[DatasetSpec] = None,
        data_dir: Optional[PathLike] = None,
    ) -> None:
        self.name, self.split, self.spec = name, split, spec
        self.examples, self.data_dir = list(examples), data_dir

    def rows(self, numbers: Optional[Container[int]] = None) -> Iterator[FileRow]:
        for number, example in enumerate(self.examples):
            if numbers is None or number in numbers:
                yield FileRow(number, number + 1, example)

    def count(self) -> int:
        return len(self.examples)

    def reference_texts(self, pool: int) -> List[str]:
        if self.spec is None or self.spec.train_split is None:
            return super().reference_texts(pool)
        train = self.spec.load(self.spec.train_split, self.data_dir, pool)
        if any(e.text_pair_words is not None for e in train):
            raise ValueError(
                "`lafa` and `diffmask` do not support text pairs (training texts)."
            )
        return [e.text for e in train]

    def reference_label(self) -> Optional[str]:
        if self.spec is None or self.spec.train_split is None:
            return None
        return f"{self.name} training split"


def open_source(source: DataSource, classes: Optional[Sequence[str]] = None) -> Source:
    """The rows of ``source``, its first ``n`` at most; a file's labels are
    read as ``classes``."""
    dataset, n = source.dataset, source.n
    if isinstance(dataset, str) and dataset in DATASETS:
        spec, split = named_split(dataset, source.split)
        examples = spec.load(split, source.data_dir, n)
        return _ListSource(dataset, split, examples, spec, source.data_dir)
    if isinstance(dataset, (str, os.PathLike)):
        path = Path(dataset)
        if not path.is_dir() and path.suffix.lower() not in FORMATS:
            raise ValueError(
                f"`dataset` must be a data set name ({sorted(DATASETS)}), a .jsonl, "
                ".csv or .tsv file, or a folder saved with datasets' save_to_disk; "
                f"got {str(dataset)!r}."
            )
        given = dict(source.fields or {})
        if "text_field" in given and not given["text_field"]:
            raise ValueError("`fields`: `text_field` must name a field.")
        return _FileSource(
            DatasetFile(
                dataset,
                classes=classes,
                split=source.split,
                skip_bad_rows=source.skip_bad_rows,
                **given,  # type: ignore[arg-type]
            )
        )
    examples = list(dataset)[:n]
    if not examples:
        raise ValueError(
            "`dataset` must be a file, a data set name "
            f"({sorted(DATASETS)}) or a non-empty sequence of TextExample."
        )
    return _ListSource("custom", source.split, examples)
