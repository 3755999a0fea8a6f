"""e-SNLI highlights: premise/hypothesis pairs with human rationale masks."""

import json
from typing import Optional

from ._paths import PathLike, require_file
from .records import _check_limit, _check_split, TextExample

ESNLI_LABELS: tuple[str, ...] = ("entailment", "contradiction")


def load_esnli(
    split: str = "dev", data_dir: Optional[PathLike] = None, limit: Optional[int] = None
) -> list[TextExample]:
    """Load the e-SNLI dev highlights (``esnli/dev_highlights.jsonl``).

    Only entailment and contradiction pairs are in the file (neutral pairs have
    no meaningful highlights), so labels are 0 entailment, 1 contradiction
    (:data:`ESNLI_LABELS`); a 3-way NLI model's indices must be remapped. A word
    is highlighted when at least 2 of the 3 annotators marked it.

    ``words``/``rationale`` are the premise tokens and highlights,
    ``text_pair_words``/``pair_rationale`` the hypothesis'. ``example_id`` is
    ``"esnli-dev-{dev_index}"``; ``meta["dev_index"]`` is the index into the
    original e-SNLI dev set.

    Args:
        split (str, optional): Only ``"dev"`` (2,981 pairs) is available.
            Default: ``"dev"``.
        data_dir (str or os.PathLike, optional): Data folder. Default: None
            (``CAPTUM_NLP_DATA`` or ``../shared/data``).
        limit (int, optional): Keep only the first ``limit`` pairs. Default: None.

    Returns:
        list of TextExample: In file order.

    Raises:
        FileNotFoundError: The file is missing (names it and ``CAPTUM_NLP_DATA``).
        ValueError: Bad split, unknown label, or highlights whose length differs
            from their sentence's.
    """
    _check_split(split, ("dev",))
    _check_limit(limit)
    path = require_file(data_dir, "esnli/dev_highlights.jsonl")
    examples: list[TextExample] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if limit is not None and len(examples) >= limit:
                break
            if not line.strip():
                continue
            row = json.loads(line)
            if row["label"] not in ESNLI_LABELS:
                raise ValueError(f"{path}: unknown label {row['label']!r}")
            examples.append(
                TextExample(
                    words=row["premise"],
                    label=ESNLI_LABELS.index(row["label"]),
                    example_id=f"esnli-dev-{row['dev_index']}",
                    rationale=row["premise_highlight"],
                    text_pair_words=row["hypothesis"],
                    pair_rationale=row["hypothesis_highlight"],
                    meta={"dev_index": int(row["dev_index"])},
                )
            )
    return examples
