"""The fastai IMDB sample: 1,000 movie reviews (Maas et al. 2011)."""

import csv
from typing import Optional

from ._paths import PathLike, require_file
from .records import _check_limit, _check_split, TextExample

IMDB_LABELS: tuple[str, ...] = ("negative", "positive")


def imdb_words(text: str) -> list[str]:
    """Split an IMDB review into words: ``<br />`` tags become spaces, then
    ``str.split()``.

    Punctuation stays attached to words (``"film."``); the sub-word tokenizer
    splits it off later and the alignment maps the pieces back to the word.

    Args:
        text (str): Raw review text.

    Returns:
        list of str: The words.
    """
    return text.replace("<br />", " ").split()


def load_imdb_sample(
    split: str = "train",
    data_dir: Optional[PathLike] = None,
    limit: Optional[int] = None,
) -> list[TextExample]:
    """Load the IMDB sample (``imdb_sample/texts.csv``: ``label,text,is_valid``).

    Words come from :func:`imdb_words`. Labels: 0 negative, 1 positive
    (:data:`IMDB_LABELS`). ``example_id`` is ``"imdb-{row}"`` with ``row`` the
    0-based data row of the CSV (also in ``meta["row"]``).

    Args:
        split (str, optional): ``"train"`` (``is_valid`` False, 800 reviews) or
            ``"valid"`` (200). Default: ``"train"``.
        data_dir (str or os.PathLike, optional): Data folder. Default: None
            (``CAPTUM_NLP_DATA`` or ``../shared/data``).
        limit (int, optional): Keep only the first ``limit`` reviews of the
            split. Default: None.

    Returns:
        list of TextExample: In file order.

    Raises:
        FileNotFoundError: The CSV is missing (names it and ``CAPTUM_NLP_DATA``).
        ValueError: Bad split, unknown label or ``is_valid`` value.
    """
    _check_split(split, ("train", "valid"))
    _check_limit(limit)
    path = require_file(data_dir, "imdb_sample/texts.csv")
    want_valid = split == "valid"
    examples: list[TextExample] = []
    # newline="" lets the csv module handle line breaks inside quoted reviews.
    with open(path, encoding="utf-8", newline="") as handle:
        for row_no, row in enumerate(csv.DictReader(handle)):
            if limit is not None and len(examples) >= limit:
                break
            if row["is_valid"] not in ("True", "False"):
                raise ValueError(f"{path}: row {row_no}: bad is_valid")
            if row["label"] not in IMDB_LABELS:
                raise ValueError(f"{path}: row {row_no}: bad label {row['label']!r}")
            if (row["is_valid"] == "True") != want_valid:
                continue
            examples.append(
                TextExample(
                    words=imdb_words(row["text"]),
                    label=IMDB_LABELS.index(row["label"]),
                    example_id=f"imdb-{row_no}",
                    meta={"row": row_no},
                )
            )
    return examples
