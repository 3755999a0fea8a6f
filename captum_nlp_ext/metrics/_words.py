"""Attributions, human rationales and gold word scores, brought to word level.

Every plausibility, diagnostic and sanity metric compares *words*: the units of
``feature_mask`` (tokens sharing an id; negative ids excluded), numbered in the
order of their ids, which for :func:`captum_nlp_ext.huggingface.word_feature_mask`
is the order of the words in the text.
"""

from typing import Any, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from captum_nlp_ext._utils.units import build_units, POOLS, Units
from captum_nlp_ext._utils.validation import check_choice

RationaleType = Union[Tensor, Sequence[Sequence[Union[int, bool]]]]
WordValuesType = Union[Tensor, Sequence[Sequence[float]]]


def check_attributions(
    attributions: Any, name: str = "attributions", like: Optional[Tensor] = None
) -> Tensor:
    """(batch, tokens) token scores, or (batch, tokens, hidden) layer attributions
    summed over the hidden dimension; a one-element tuple (what Captum returns for
    one input) is unwrapped. With ``like`` (the token ids), the first two
    dimensions must be its shape. The one check of attributions in every
    metric."""
    if isinstance(attributions, tuple) and len(attributions) == 1:
        attributions = attributions[0]
    if not isinstance(attributions, Tensor):
        raise TypeError(
            f"`{name}` must be a tensor of shape (batch, tokens) or (batch, tokens, "
            f"hidden); got {type(attributions).__name__}."
        )
    if not attributions.is_floating_point():
        raise TypeError(f"`{name}` must be floating point; got {attributions.dtype}.")
    if like is not None and (
        attributions.dim() not in (2, 3) or attributions.shape[:2] != like.shape
    ):
        raise ValueError(
            f"`{name}` must have shape {tuple(like.shape)} or "
            f"{tuple(like.shape)} + (hidden,) to match `inputs`; got "
            f"{tuple(attributions.shape)}."
        )
    if attributions.dim() == 3:
        attributions = attributions.sum(-1)
    elif attributions.dim() != 2:
        raise ValueError(
            f"`{name}` must have shape (batch, tokens) or (batch, tokens, hidden); got "
            f"{tuple(attributions.shape)}."
        )
    if attributions.shape[0] == 0:
        raise ValueError(f"`{name}` is an empty batch.")
    if not bool(torch.isfinite(attributions).all()):
        raise ValueError(f"`{name}` holds NaN or infinite values.")
    return attributions.detach()


def word_scores(
    attributions: Any,
    feature_mask: Optional[Tensor],
    pool: str = "auto",
    absolute: bool = False,
    name: str = "attributions",
) -> Tuple[Tensor, Units]:
    """Pool token attributions into (batch, max_words) float64 word scores.

    Returns the scores (0 on empty slots) and the :class:`Units` (``units.valid``
    marks the words that exist).
    """
    check_choice("pool", pool, POOLS)
    tokens = check_attributions(attributions, name).to(torch.float64)
    units = build_units(feature_mask, tokens.shape[0], tokens.shape[1], tokens.device)
    scores = units.pool(tokens, pool)
    return (scores.abs() if absolute else scores), units


def word_rationale(rationale: Any, units: Units) -> Tensor:
    """A human rationale as (batch, max_words) bool.

    ``rationale`` is a (batch, tokens) 0/1 token mask (a word is in the rationale
    when any of its tokens is; marks on excluded tokens are ignored) or, per
    example, a list of 0/1 flags, one a word.
    """
    batch, tokens = units.index.shape
    if isinstance(rationale, Tensor):
        if rationale.shape != (batch, tokens):
            raise ValueError(
                f"`rationale` must be a 0/1 token mask of shape ({batch}, {tokens}) "
                f"like the attributions; got {tuple(rationale.shape)}."
            )
        values = rationale.to(device=units.index.device, dtype=torch.float64)
        if not bool(((values == 0) | (values == 1)).all()):
            raise ValueError("`rationale` must hold only 0 and 1 (or booleans).")
        return (units.pool(values, "sum") > 0) & units.valid
    flags = _per_word_rows("rationale", rationale, units)
    given = flags[units.valid]
    if not bool(((given == 0) | (given == 1)).all()):
        raise ValueError("`rationale` must hold only 0 and 1 (or booleans).")
    return (flags == 1) & units.valid


def word_values(values: Any, units: Units, name: str) -> Tensor:
    """Gold word scores as (batch, max_words) float64, NaN where unknown.

    ``values`` is a (batch, tokens) float tensor (a word gets the mean over its
    tokens) or, per example, a list of floats, one a word (NaN = unknown).
    """
    batch, tokens = units.index.shape
    if isinstance(values, Tensor):
        if values.shape != (batch, tokens) or not values.is_floating_point():
            raise ValueError(
                f"`{name}` must be a float tensor of shape ({batch}, {tokens}) like "
                f"the attributions; got {tuple(values.shape)}, {values.dtype}."
            )
        pooled = units.pool(values.to(units.index.device, torch.float64), "mean")
    else:
        pooled = _per_word_rows(name, values, units)
    return torch.where(units.valid, pooled, torch.nan)


def _per_word_rows(name: str, rows: Any, units: Units) -> Tensor:
    """Per-example lists of per-word values, padded into (batch, max_words)."""
    batch = units.index.shape[0]
    if not isinstance(rows, Sequence) or len(rows) != batch:
        raise TypeError(
            f"`{name}` must be a (batch, tokens) tensor or a list of {batch} per-word "
            "lists."
        )
    counts = units.count.tolist()
    out = torch.full((batch, units.max_units), torch.nan, dtype=torch.float64)
    for example, (row, count) in enumerate(zip(rows, counts)):
        if len(row) != count:
            raise ValueError(
                f"`{name}`[{example}] has {len(row)} values but the example has "
                f"{count} words in `feature_mask`."
            )
        out[example, :count] = torch.as_tensor(list(row), dtype=torch.float64)
    return out.to(units.index.device)
