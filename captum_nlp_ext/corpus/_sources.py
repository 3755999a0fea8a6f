"""Where a corpus run's examples come from: a file, a named data set or a list.

Every source numbers its rows from 0 and gives them as
:class:`~captum_nlp_ext.datasets.files.FileRow`, so that the runner treats a
JSONL file and SST-2 alike; a file is read lazily, the named data sets (a few
thousand examples each) are loaded whole.
"""

from pathlib import Path
from typing import (
    Any,
    Callable,
    Container,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
)

from captum_nlp_ext._utils.types import PathLike
from captum_nlp_ext.datasets import TextExample
from captum_nlp_ext.datasets.files import DatasetFile, FIELDS, FileRow, FORMATS
from captum_nlp_ext.datasets.registry import DATASETS, named_split


class Source:
    """The rows of a run (the interface; see :func:`open_source`)."""

    name: str
    split: Optional[str]
    fields: Optional[Dict[str, Optional[str]]]

    def rows(self, numbers: Optional[Container[int]] = None) -> Iterator[FileRow]:
        raise NotImplementedError

    def count(self) -> int:
        raise NotImplementedError

    def reference_texts(self) -> List[str]:
        raise ValueError(
            "methods `lafa` and `diffmask` need reference texts (a training split) "
            f"and {self.name} has none: pass `reference_texts`."
        )

    def reference_label(self) -> Optional[str]:
        return None


class _FileSource(Source):
    def __init__(self, file: DatasetFile) -> None:
        self.file, self.name, self.split = file, file.name, file.split
        self.fields = dict(file.fields)

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
        train: Optional[Any] = None,
    ) -> None:
        self.name, self.split, self.fields = name, split, None
        self.examples, self.train = list(examples), train

    def rows(self, numbers: Optional[Container[int]] = None) -> Iterator[FileRow]:
        for number, example in enumerate(self.examples):
            if numbers is None or number in numbers:
                yield FileRow(number, number + 1, example)

    def count(self) -> int:
        return len(self.examples)

    def reference_texts(self) -> List[str]:
        if self.train is None:
            return super().reference_texts()
        return self.train()

    def reference_label(self) -> Optional[str]:
        return None if self.train is None else f"{self.name} training split"


def open_source(
    dataset: Any,
    split: Optional[str],
    fields: Optional[Mapping[str, Optional[str]]],
    classes: Sequence[str],
    skip_bad_rows: bool,
    data_dir: Optional[PathLike],
    reference_pool: int = 1000,
) -> Source:
    """The rows of ``dataset``: a named data set, a file or folder, or a
    sequence of :class:`TextExample`."""
    if isinstance(dataset, str) and dataset in DATASETS:
        if fields:
            raise ValueError(
                f"`fields` are for files; {dataset!r} is a named data set."
            )
        spec, split = named_split(dataset, split)
        train: Optional[Callable[[], List[str]]] = None
        if spec.train_split is not None:
            train_split = spec.train_split

            def train_texts() -> List[str]:
                loaded = spec.load(train_split, data_dir, reference_pool)
                return [e.text for e in loaded]

            train = train_texts
        return _ListSource(dataset, split, spec.load(split, data_dir, None), train)
    if isinstance(dataset, (str, Path)):
        path = Path(dataset)
        if not path.is_dir() and path.suffix.lower() not in FORMATS:
            raise ValueError(
                f"`dataset` must be a data set name ({sorted(DATASETS)}), a .jsonl, "
                ".csv or .tsv file, or a folder saved with datasets' save_to_disk; "
                f"got {str(dataset)!r}."
            )
        given = dict(fields or {})
        unknown = sorted(set(given) - set(FIELDS))
        if unknown:
            raise ValueError(f"`fields` has unknown names {unknown}; known: {FIELDS}.")
        if "text_field" in given and not given["text_field"]:
            raise ValueError("`fields`: `text_field` must name a field.")
        return _FileSource(
            DatasetFile(
                dataset,
                classes=classes,
                split=split,
                skip_bad_rows=skip_bad_rows,
                **{k: v for k, v in given.items()},  # type: ignore[arg-type]
            )
        )
    examples = list(dataset)
    if not examples or not all(isinstance(e, TextExample) for e in examples):
        raise ValueError(
            "`dataset` must be a file, a data set name "
            f"({sorted(DATASETS)}) or a non-empty sequence of TextExample."
        )
    return _ListSource("custom", split, examples)
