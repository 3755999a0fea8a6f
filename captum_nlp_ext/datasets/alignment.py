"""Map word-level values (rationales, gold scores) onto sub-word tokens.

Masks and scores in this package are over whitespace/PTB words. Tokenise the
words with a Hugging Face *fast* tokenizer and ``is_split_into_words=True``;
the encoding's ``word_ids`` then say which word each sub-token came from.

Unit ids: for a pair, the second text's word ``w`` is unit ``n_first + w``
(``n_first`` = number of words of the first text), so ids are unique across the
pair. A feature mask is a LongTensor ``(B, T)`` of unit ids, -1 on special and
padding tokens.
"""

from typing import Any, Optional, Sequence

import torch


def _check_fast(encoding: Any) -> None:
    if not getattr(encoding, "is_fast", False):
        raise TypeError(
            "word alignment needs an encoding from a fast tokenizer (one backed by "
            "the `tokenizers` library, e.g. AutoTokenizer.from_pretrained(..., "
            "use_fast=True)) called with is_split_into_words=True; this encoding "
            "has no word_ids()"
        )


def align_word_labels(
    encoding: Any,
    word_values: Sequence[Any],
    batch_index: int = 0,
    fill: Any = 0,
    pair_values: Optional[Sequence[Any]] = None,
) -> list[Any]:
    """Give every sub-token the value of the word it came from.

    Args:
        encoding (transformers.BatchEncoding): Output of a fast tokenizer called
            with ``is_split_into_words=True`` on the same words the values
            describe (with or without padding/truncation).
        word_values (Sequence): One value per word of the (first) text, e.g.
            ``TextExample.rationale`` or ``word_scores``.
        batch_index (int, optional): Which sequence of the batch. Default: 0.
        fill (Any, optional): Value for special and padding tokens. Default: 0.
        pair_values (Sequence, optional): One value per word of the second text
            when the encoding holds pairs (``TextExample.pair_rationale``).
            Equivalently, the values are read by unit id from
            ``list(word_values) + list(pair_values)``. Default: None.

    Returns:
        list: One value per token position of sequence ``batch_index``. A word
        the tokenizer drops entirely (e.g. a lone control character) has no
        sub-token and so no entry.

    Raises:
        TypeError: The encoding comes from a slow (Python) tokenizer.
        ValueError: The encoding holds a second text but ``pair_values`` is None,
            or refers to more words than values were given.
    """
    _check_fast(encoding)
    word_ids = encoding.word_ids(batch_index)
    sequence_ids = encoding.sequence_ids(batch_index)
    out: list[Any] = []
    for word_id, seq_id in zip(word_ids, sequence_ids):
        if word_id is None:
            out.append(fill)
            continue
        values = word_values if seq_id == 0 else pair_values
        if values is None:
            raise ValueError(
                "the encoding holds a text pair; pass pair_values for the second text"
            )
        if word_id >= len(values):
            which = "word_values" if seq_id == 0 else "pair_values"
            raise ValueError(
                f"token refers to word {word_id} but {which} has {len(values)} "
                "entries; were the same words tokenised with "
                "is_split_into_words=True?"
            )
        out.append(values[word_id])
    return out


def _word_ids_tensor(
    encoding: Any, first_word_counts: Optional[Sequence[int]] = None
) -> torch.Tensor:
    """Unit-id feature mask ``(B, T)``: word index, offset for the second text,
    -1 for special/padding tokens.

    Private on purpose: the package's canonical feature-mask builder lives
    elsewhere; this one backs the tests of the offset convention.

    Args:
        encoding (transformers.BatchEncoding): Fast-tokenizer encoding made with
            ``is_split_into_words=True``.
        first_word_counts (Sequence of int, optional): Words of the first text
            per batch item; required when the encoding holds pairs (inferring it
            from the tokens would be wrong after truncation). Default: None.

    Returns:
        torch.Tensor: LongTensor of shape ``(B, T)``.
    """
    _check_fast(encoding)
    rows = []
    for b in range(len(encoding["input_ids"])):
        row = []
        for word_id, seq_id in zip(encoding.word_ids(b), encoding.sequence_ids(b)):
            if word_id is None:
                row.append(-1)
            elif seq_id == 0:
                row.append(word_id)
            else:
                if first_word_counts is None:
                    raise ValueError("first_word_counts is required for pairs")
                row.append(first_word_counts[b] + word_id)
        rows.append(row)
    return torch.tensor(rows, dtype=torch.long)
