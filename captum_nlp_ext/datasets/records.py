"""The record type shared by every loader, and word-mask/span helpers."""

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, NamedTuple, Optional, Sequence


class PhraseSpan(NamedTuple):
    """A labelled phrase over word positions ``[start, end)``.

    Args:
        start (int): First word of the phrase.
        end (int): One past the last word of the phrase.
        label (int): The phrase's label (SST: fine sentiment 0-4).
    """

    start: int
    end: int
    label: int


def _as_tuple(value: Optional[Iterable[Any]], kind: type) -> Optional[tuple]:
    if value is None:
        return None
    return tuple(kind(v) for v in value)


@dataclass(frozen=True)
class TextExample:
    """One example of any data set: words, a label and optional word-level gold.

    Lists given to the constructor are stored as tuples so that records stay
    immutable and hashable (``meta`` is excluded from the hash).

    Args:
        words (tuple of str): The (first) text as whitespace/PTB words; every
            word-level field below is indexed by these positions.
        label (int, optional): Class index; each loader documents its mapping.
            None only where the data set has no class for the example (SST trees
            with a neutral root under the binary view).
        example_id (str): Identifier, unique within a data set.
        rationale (tuple of int, optional): 0/1 per word of ``words`` (human
            rationale / highlight). Default: None (no annotation).
        text_pair_words (tuple of str, optional): Second text of a pair (e-SNLI
            hypothesis). Default: None.
        pair_rationale (tuple of int, optional): 0/1 per word of
            ``text_pair_words``. Default: None.
        word_scores (tuple of float, optional): Gold score per word of ``words``
            (SST: the leaf sentiment 0-4). Default: None.
        fine_label (int, optional): Fine-grained label (SST: root sentiment 0-4).
            Default: None.
        phrases (tuple of PhraseSpan, optional): Labelled phrases over ``words``
            (SST: every internal tree node, pre-order). Default: None.
        meta (Mapping[str, Any], optional): Loader-specific extras (documented
            by each loader); treat as read-only. Default: empty.
    """

    # Sequences in, tuples stored (__post_init__).
    words: Sequence[str]
    label: Optional[int]
    example_id: str
    rationale: Optional[Sequence[int]] = None
    text_pair_words: Optional[Sequence[str]] = None
    pair_rationale: Optional[Sequence[int]] = None
    word_scores: Optional[Sequence[float]] = None
    fine_label: Optional[int] = None
    phrases: Optional[tuple[PhraseSpan, ...]] = None
    meta: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # frozen=True forbids normal assignment; coercion happens once, here.
        set_ = object.__setattr__
        for name in ("words", "text_pair_words"):
            # A bare string would silently become a tuple of characters.
            if isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a sequence of words, not a str")
        set_(self, "words", _as_tuple(self.words, str))
        set_(self, "rationale", _as_tuple(self.rationale, int))
        set_(self, "text_pair_words", _as_tuple(self.text_pair_words, str))
        set_(self, "pair_rationale", _as_tuple(self.pair_rationale, int))
        set_(self, "word_scores", _as_tuple(self.word_scores, float))
        if self.phrases is not None:
            set_(self, "phrases", tuple(PhraseSpan(*p) for p in self.phrases))
        n = len(self.words)
        _check_mask("rationale", self.rationale, n, self.example_id)
        if self.word_scores is not None and len(self.word_scores) != n:
            raise ValueError(
                f"{self.example_id}: word_scores has {len(self.word_scores)} "
                f"entries for {n} words"
            )
        if self.pair_rationale is not None and self.text_pair_words is None:
            raise ValueError(f"{self.example_id}: pair_rationale without a pair")
        if self.text_pair_words is not None:
            _check_mask(
                "pair_rationale",
                self.pair_rationale,
                len(self.text_pair_words),
                self.example_id,
            )
        for phrase in self.phrases or ():
            if not 0 <= phrase.start < phrase.end <= n:
                raise ValueError(f"{self.example_id}: bad phrase span {phrase}")

    @property
    def text(self) -> str:
        """str: ``words`` joined by single spaces."""
        return " ".join(self.words)

    @property
    def text_pair(self) -> Optional[str]:
        """str or None: ``text_pair_words`` joined by single spaces."""
        if self.text_pair_words is None:
            return None
        return " ".join(self.text_pair_words)


def _check_mask(
    name: str, mask: Optional[Sequence[int]], length: int, example_id: str
) -> None:
    if mask is None:
        return
    if len(mask) != length:
        raise ValueError(
            f"{example_id}: {name} has {len(mask)} entries for {length} words"
        )
    if any(v not in (0, 1) for v in mask):
        raise ValueError(f"{example_id}: {name} must be 0/1 per word")


def mask_to_spans(mask: Sequence[Any]) -> tuple[tuple[int, int], ...]:
    """Convert a per-word 0/1 (or boolean) mask into maximal contiguous spans.

    Args:
        mask (Sequence): One truthy/falsy value per word.

    Returns:
        tuple of (int, int): ``(start, end)`` pairs, ``end`` exclusive, sorted
        and non-overlapping (the form ERASER's hard predictions require).

    Example::

        >>> mask_to_spans([0, 1, 1, 0, 1])
        ((1, 3), (4, 5))
    """
    spans = []
    start: Optional[int] = None
    for i, value in enumerate(mask):
        if value and start is None:
            start = i
        elif not value and start is not None:
            spans.append((start, i))
            start = None
    if start is not None:
        spans.append((start, len(mask)))
    return tuple(spans)


def spans_to_mask(spans: Iterable[Sequence[int]], length: int) -> tuple[int, ...]:
    """Convert ``(start, end)`` spans (``end`` exclusive) into a 0/1 word mask.

    Overlapping spans are allowed (their union is marked).

    Args:
        spans (Iterable of (int, int)): Spans over word positions.
        length (int): Number of words.

    Returns:
        tuple of int: 1 on every word covered by a span, else 0.

    Raises:
        ValueError: A span is empty, reversed or outside ``[0, length]``.
    """
    mask = [0] * length
    for start, end in spans:
        if not 0 <= start < end <= length:
            raise ValueError(f"span ({start}, {end}) is invalid for {length} words")
        mask[start:end] = [1] * (end - start)
    return tuple(mask)


def _check_split(split: str, allowed: Sequence[str]) -> None:
    if split not in allowed:
        raise ValueError(f"split must be one of {tuple(allowed)}, got {split!r}")


def _check_limit(limit: Optional[int]) -> None:
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be None or >= 0, got {limit}")
