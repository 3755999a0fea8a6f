"""Your own data: JSONL, CSV and TSV files, and Hugging Face ``datasets``
folders (``save_to_disk``), read lazily, row by row.

A row's text is split into words at whitespace (as the SST and ERASER files
are), and the word-level fields are over those words: a rationale is one 0/1
flag per word, written as a JSON list (``[0, 1, 1]``) or, in CSV and TSV, as
flags separated by spaces or commas (``"0 1 1"``). A rationale over a text
pair covers the first text's words, or the words of both texts in order.

Rows are numbered from 0 in file order (blank JSONL lines are not rows): the
number is the example's number in the run (its seed, its place in the output);
an ``id_field`` is recorded beside it. A bad row (a missing field, an empty
text, a label the model does not have, a rationale of the wrong length) raises
:class:`BadRowError` naming the file and line, or, with ``skip_bad_rows``, comes
back as a :class:`FileRow` with its ``problem``.
"""

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Container, Dict, Iterator, List, Mapping, Optional, Sequence

from captum_nlp_ext._utils.types import PathLike
from captum_nlp_ext.datasets.records import TextExample

#: The fields a file's columns can fill (DatasetFile's ``*_field`` arguments).
FIELDS = ("text_field", "label_field", "pair_field", "rationale_field", "id_field")
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv"}
# JSONL rows read to learn a file's fields.
_HEADER_ROWS = 1000


class BadRowError(ValueError):
    """A row of a data file that cannot be an example (file and line named)."""


@dataclass(frozen=True)
class FileRow:
    """One row of a data file.

    Attributes:
        number (int): The row's number from 0, in file order.
        line (int): Its line in the file (1-based; for a ``datasets`` folder,
                    the row number + 1).
        example (TextExample, optional): The example; None for a bad row.
        problem (str, optional): What is wrong with a bad row; None otherwise.
        example_id (str, optional): A bad row's ``id_field`` where it has one.
    """

    number: int
    line: int
    example: Optional[TextExample]
    problem: Optional[str] = None
    example_id: Optional[str] = None

    @property
    def id(self) -> str:
        """The example's id: its ``id_field`` where the row has one (a bad row
        too), else its number."""
        if self.example is not None:
            return self.example.example_id
        return self.example_id if self.example_id is not None else str(self.number)


class DatasetFile:
    """A data set in a file or a ``datasets`` folder, read lazily.

    Args:
        path (str or PathLike): A ``.jsonl`` (``.ndjson``), ``.csv`` or ``.tsv``
                    file with a header row, or a folder saved with
                    ``datasets``' ``save_to_disk`` (needs the ``datasets``
                    package).
        text_field (str): The field of the text. Default: "text"
        label_field (str, optional): The field of the gold label: a class index,
                    or a class name of ``classes``. Default: None (no labels)
        pair_field (str, optional): The field of a pair's second text.
                    Default: None
        rationale_field (str, optional): The field of a word rationale.
                    Default: None
        id_field (str, optional): A field recorded as the example's id.
                    Default: None (the row number)
        classes (sequence of str, optional): The model's class names, by index;
                    labels are checked against them. Default: None (labels must
                    be indices)
        split (str, optional): The split of a ``datasets`` folder that holds
                    several (a ``DatasetDict``). Default: None (its only split)
        skip_bad_rows (bool): Give bad rows back with their problem instead of
                    raising :class:`BadRowError`. Default: False

    Raises:
        ValueError: An unknown file type, a missing file, or a header (for
                    JSONL: the first 1,000 rows) without a named field (the
                    argument is named).
    """

    def __init__(
        self,
        path: PathLike,
        *,
        text_field: str = "text",
        label_field: Optional[str] = None,
        pair_field: Optional[str] = None,
        rationale_field: Optional[str] = None,
        id_field: Optional[str] = None,
        classes: Optional[Sequence[str]] = None,
        split: Optional[str] = None,
        skip_bad_rows: bool = False,
    ) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            self.format = "datasets"
        elif self.path.suffix.lower() in FORMATS:
            self.format = FORMATS[self.path.suffix.lower()]
            if not self.path.is_file():
                raise FileNotFoundError(f"`dataset`: no file at {self.path}.")
        else:
            raise ValueError(
                f"`dataset` must be a .jsonl, .csv or .tsv file, or a folder saved "
                f"with datasets' save_to_disk; got {self.path}."
            )
        self.fields = {
            "text_field": text_field,
            "label_field": label_field,
            "pair_field": pair_field,
            "rationale_field": rationale_field,
            "id_field": id_field,
        }
        self.classes = None if classes is None else [str(c) for c in classes]
        self.split, self.skip_bad_rows = split, skip_bad_rows
        self._check_header()

    @property
    def name(self) -> str:
        """The file's name (what a run records as its data set)."""
        return self.path.name

    def __iter__(self) -> Iterator[FileRow]:
        return self.rows()

    def rows(self, numbers: Optional[Container[int]] = None) -> Iterator[FileRow]:
        """The rows in file order, or only those whose number is in ``numbers``
        (the others are not parsed)."""
        for number, line, raw in self._raw(numbers):
            if raw is None:
                continue
            row = self._row(number, line, raw)
            if row.problem is not None and not self.skip_bad_rows:
                raise BadRowError(
                    f"{self.path}, line {line}: {row.problem} (fix the row, or pass "
                    "`skip_bad_rows` to record it as failed)"
                )
            yield row

    def count(self) -> int:
        """How many rows the file holds (one streaming pass, nothing kept)."""
        return sum(1 for _ in self._raw(()))

    def examples(self, limit: Optional[int] = None) -> List[TextExample]:
        """The good rows' examples, at most ``limit`` rows read (for a benchmark
        over a file, which holds its examples)."""
        out = []
        for row in self.rows(range(limit) if limit is not None else None):
            if row.example is not None:
                out.append(row.example)
            if limit is not None and row.number + 1 >= limit:
                break
        return out

    def _check_header(self) -> None:
        columns = self._columns()
        if columns is None:
            return
        for argument, field in self.fields.items():
            if field is not None and field not in columns:
                where = "" if self.format != "jsonl" else " in its first rows"
                raise ValueError(
                    f"`{argument}`: {self.path} has no field {field!r}{where}; its "
                    f"fields are {sorted(columns)}."
                )

    def _columns(self) -> Optional[List[str]]:
        """The header's fields; for JSONL, whose rows each name theirs, the
        fields of its first rows (None when none of them is an object)."""
        if self.format == "datasets":
            return list(self._hf_dataset().column_names)
        if self.format == "jsonl":
            return self._jsonl_fields()
        with open(self.path, newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle, delimiter=self._delimiter), None)
        if not header:
            raise ValueError(f"`dataset`: {self.path} has no header row.")
        return header

    def _jsonl_fields(self) -> Optional[List[str]]:
        # A field that none of the first rows has is a typo, not a bad row:
        # refused before a run records every row as failed.
        fields: set = set()
        seen = 0
        for _, _, text in self._raw(None):
            try:
                row = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                fields.update(row)
                seen += 1
            if seen >= _HEADER_ROWS:
                break
        return sorted(fields) if seen else None

    @property
    def _delimiter(self) -> str:
        return "\t" if self.format == "tsv" else ","

    def _raw(self, numbers: Optional[Container[int]]) -> Iterator[tuple[int, int, Any]]:
        """(number, line, raw row) for every row (the raw row is None where
        ``numbers`` leaves it out)."""

        def wanted(number: int) -> bool:
            return numbers is None or number in numbers

        if self.format == "datasets":
            dataset = self._hf_dataset()
            for number in range(len(dataset)):
                yield number, number + 1, dataset[number] if wanted(number) else None
            return
        with open(self.path, newline="", encoding="utf-8") as handle:
            if self.format == "jsonl":
                number = 0
                for line, text in enumerate(handle, 1):
                    if not text.strip():
                        continue
                    yield number, line, text if wanted(number) else None
                    number += 1
                return
            reader = csv.DictReader(handle, delimiter=self._delimiter)
            for number, record in enumerate(reader):
                yield number, reader.line_num, record if wanted(number) else None

    def _hf_dataset(self) -> Any:
        if not hasattr(self, "_dataset"):
            try:
                import datasets
            except ImportError:
                raise ImportError(
                    f"`dataset`: {self.path} is a folder; reading a Hugging Face "
                    "datasets folder needs the datasets package (pip install "
                    "datasets)."
                ) from None
            loaded = datasets.load_from_disk(str(self.path))
            if isinstance(loaded, datasets.DatasetDict):
                names = list(loaded)
                if self.split is None and len(names) == 1:
                    self.split = names[0]
                if self.split not in loaded:
                    raise ValueError(
                        f"`split`: {self.path} holds the splits {names}; choose one "
                        f"(got {self.split!r})."
                    )
                loaded = loaded[self.split]
            self._dataset = loaded
        return self._dataset

    def _row(self, number: int, line: int, raw: Any) -> FileRow:
        if self.format == "jsonl":
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError as error:
                return FileRow(number, line, None, f"not JSON ({error.msg})")
            if not isinstance(raw, dict):
                return FileRow(number, line, None, "not a JSON object")
        try:
            example = self._example(number, line, raw)
        except _Problem as problem:
            return FileRow(number, line, None, str(problem), self._raw_id(raw))
        return FileRow(number, line, example)

    def _raw_id(self, raw: Mapping[str, Any]) -> Optional[str]:
        name = self.fields["id_field"]
        value = None if name is None else raw.get(name)
        return None if value is None or value == "" else str(value)

    def _example(self, number: int, line: int, raw: Mapping[str, Any]) -> TextExample:
        fields = self.fields
        text_field = str(fields["text_field"])
        words = _words(_field(raw, text_field), text_field)
        pair = None
        if fields["pair_field"] is not None:
            pair = _words(_field(raw, fields["pair_field"]), fields["pair_field"])
        label = None
        if fields["label_field"] is not None:
            label = self._label(_field(raw, fields["label_field"]))
        rationale = pair_rationale = None
        if fields["rationale_field"] is not None:
            flags = _flags(_field(raw, fields["rationale_field"]))
            if len(flags) == len(words):
                rationale = flags
            elif pair is not None and len(flags) == len(words) + len(pair):
                rationale, pair_rationale = flags[: len(words)], flags[len(words) :]
            else:
                expected = f"{len(words)}" + (
                    "" if pair is None else f" (or {len(words) + len(pair)})"
                )
                raise _Problem(
                    f"the rationale has {len(flags)} flags for {expected} words"
                )
        example_id = str(number)
        if fields["id_field"] is not None:
            example_id = str(_field(raw, fields["id_field"]))
        meta: Dict[str, Any] = {"line": line, "file": self.name}
        return TextExample(
            words,
            label,
            example_id,
            rationale=rationale,
            text_pair_words=pair,
            pair_rationale=pair_rationale,
            meta=meta,
        )

    def _label(self, value: Any) -> int:
        classes = self.classes
        if isinstance(value, str):
            text = value.strip()
            if classes is not None and text in classes:
                return classes.index(text)
            if not text.lstrip("-").isdigit():
                known = "" if classes is None else f" (the model's: {classes})"
                raise _Problem(f"the label {value!r} is not a class{known}")
            value = int(text)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Problem(f"the label {value!r} is not a class index or name")
        if value < 0 or (classes is not None and value >= len(classes)):
            raise _Problem(
                f"the label {value} is not a class of the model (0 to "
                f"{len(classes or ()) - 1}: {classes})"
            )
        return value


class _Problem(Exception):
    """What is wrong with one row."""


def _field(raw: Mapping[str, Any], name: str) -> Any:
    value = raw.get(name)
    if value is None or value == "":
        raise _Problem(f"the field {name!r} is missing or empty")
    return value


def _words(value: Any, name: str) -> List[str]:
    if not isinstance(value, str):
        raise _Problem(f"the field {name!r} is not text ({type(value).__name__})")
    words = value.split()
    if not words:
        raise _Problem(f"the field {name!r} is empty")
    return words


def _flags(value: Any) -> List[int]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise _Problem("the rationale is not a list of 0/1 flags") from None
        else:
            value = text.replace(",", " ").split()
    if not isinstance(value, (list, tuple)):
        raise _Problem("the rationale is not a list of 0/1 flags")
    flags = []
    for flag in value:
        if str(flag).strip() not in ("0", "1", "True", "False", "true", "false"):
            raise _Problem(f"the rationale holds {flag!r}, not a 0/1 flag")
        flags.append(1 if str(flag).strip() in ("1", "True", "true") else 0)
    return flags
