"""Pang & Lee sentence polarity (MR, Rotten Tomatoes snippets)."""

from itertools import chain, zip_longest
from typing import Optional

from ._paths import PathLike, require_file
from .records import _check_limit, TextExample

MR_LABELS: tuple[str, ...] = ("negative", "positive")


def _read_latin1_lines(path: PathLike) -> list[str]:
    # The files hold cp1252 bytes (e.g. 0x85 for an ellipsis) that the dataset's
    # documentation calls latin-1; decoding as latin-1 never fails and keeps
    # every byte. Split on "\n" only: str.splitlines() would also break on
    # U+0085 (NEL), which those bytes decode to.
    with open(path, encoding="latin-1", newline="") as handle:
        return [line for line in handle.read().split("\n") if line.strip()]


def load_mr(
    data_dir: Optional[PathLike] = None,
    limit: Optional[int] = None,
    order: str = "grouped",
) -> list[TextExample]:
    """Load MR (``mr/rt-polarity.neg`` and ``.pos``, latin-1, one sentence a line).

    Words are the line split on whitespace (``str.split()``, which also splits
    on U+0085, the cp1252 ellipsis as decoded by latin-1). Labels: 0 negative,
    1 positive (:data:`MR_LABELS`). ``example_id`` is ``"mr-neg-{line}"`` or
    ``"mr-pos-{line}"`` (0-based line among non-empty lines).

    Args:
        data_dir (str or os.PathLike, optional): Data folder. Default: None
            (``CAPTUM_NLP_DATA`` or ``../shared/data``).
        limit (int, optional): Keep only the first ``limit`` examples of the
            chosen order. Default: None (all 10,662).
        order (str, optional): ``"grouped"``: all negatives (file order) then
            all positives. ``"interleaved"``: neg 0, pos 0, neg 1, pos 1, ...,
            so that any prefix (e.g. with ``limit``) is balanced.
            Default: ``"grouped"``.

    Returns:
        list of TextExample: In the chosen deterministic order.

    Raises:
        FileNotFoundError: A file is missing (names it and ``CAPTUM_NLP_DATA``).
        ValueError: Bad ``order`` or ``limit``.
    """
    if order not in ("grouped", "interleaved"):
        raise ValueError(f"order must be 'grouped' or 'interleaved', got {order!r}")
    _check_limit(limit)
    per_class = []
    for label, name in enumerate(("neg", "pos")):
        lines = _read_latin1_lines(require_file(data_dir, f"mr/rt-polarity.{name}"))
        per_class.append(
            [
                TextExample(
                    words=line.split(), label=label, example_id=f"mr-{name}-{i}"
                )
                for i, line in enumerate(lines)
            ]
        )
    if order == "grouped":
        examples = per_class[0] + per_class[1]
    else:
        pairs = zip_longest(per_class[0], per_class[1])
        examples = [e for e in chain.from_iterable(pairs) if e is not None]
    return examples if limit is None else examples[:limit]
