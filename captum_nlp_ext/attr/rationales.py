"""Hard rationales from soft scores: the top-k units, the top percent of units,
or the units above a threshold.

Rationale extraction methods such as MaRC (Brinner and Zarriess, 2023) output a
soft score per word; benchmarks such as ERASER (DeYoung et al., 2020) compare a
hard selection of words with human rationales. The MaRC authors chose k per
document with a regression fitted on gold rationales of other test documents,
which uses test labels; :func:`mean_rationale_length` sets k from a training
split instead.
"""

from typing import Any, Iterable, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from captum_nlp_ext._utils.deprecation import warn_renamed
from captum_nlp_ext._utils.ranking import select_words
from captum_nlp_ext._utils.units import build_units, Units
from captum_nlp_ext._utils.validation import check_float

__all__ = [
    "mean_rationale_length",
    "threshold_rationale",
    "top_fraction_rationale",
    "top_percent_rationale",
    "top_k_rationale",
]


def top_k_rationale(
    attributions: Tensor,
    k: Union[int, Sequence[int], Tensor],
    feature_mask: Optional[Tensor] = None,
) -> Tensor:
    """The ``k`` highest-scoring units of each example.

    Args:
        attributions (Tensor): (batch, tokens) scores; the tokens of a unit share
                    its score (their mean is used).
        k (int, list[int] or Tensor): Units to select, one number for all
                    examples or one per example; more than an example has
                    selects all of them. Ties go to the earlier unit.
        feature_mask (Tensor, optional): (batch, tokens) or (1, tokens) unit ids,
                    negative = excluded (never selected), as given to the
                    attribution method.
                    Default: None (every token is a unit)

    Returns:
        (batch, tokens) bool: True on the tokens of the selected units.
    """
    units, scores = _unit_scores(attributions, feature_mask)
    counts = _per_example(k, attributions.shape[0], attributions.device)
    return _select(units, scores, counts)


def top_percent_rationale(
    attributions: Tensor,
    percent: float,
    feature_mask: Optional[Tensor] = None,
) -> Tensor:
    """The highest-scoring ``percent`` % of each example's units.

    Args:
        attributions (Tensor): (batch, tokens) scores, tokens of a unit sharing
                    its score.
        percent (float): Share of units to select, in (0, 100], in percent as
                    every share of words in this package; an example with ``n``
                    units gets ``percent / 100 * n`` of them rounded half up (as
                    a float ``k`` of :func:`captum_nlp_ext.metrics.token_f1`),
                    which can be 0.
        feature_mask (Tensor, optional): Unit ids, negative = excluded.
                    Default: None (every token is a unit)

    Returns:
        (batch, tokens) bool: True on the tokens of the selected units.
    """
    percent = check_float("percent", percent, 0.0, 100.0)
    units, scores = _unit_scores(attributions, feature_mask)
    return _select(units, scores, percent / 100)


def top_fraction_rationale(
    attributions: Tensor,
    fraction: float,
    feature_mask: Optional[Tensor] = None,
) -> Tensor:
    """Deprecated: :func:`top_percent_rationale` with ``percent = 100 *
    fraction`` (shares of words are percent package-wide)."""
    warn_renamed("top_fraction_rationale", "top_percent_rationale(percent=...)")
    fraction = check_float("fraction", fraction, 0.0, 1.0)
    units, scores = _unit_scores(attributions, feature_mask)
    return _select(units, scores, fraction)


def threshold_rationale(
    attributions: Tensor,
    threshold: float,
    feature_mask: Optional[Tensor] = None,
) -> Tensor:
    """The units scoring at least ``threshold`` (0.5 suits MaRC's masks).

    Args:
        attributions (Tensor): (batch, tokens) scores, tokens of a unit sharing
                    its score.
        threshold (float): Least score of a selected unit.
        feature_mask (Tensor, optional): Unit ids, negative = excluded.
                    Default: None (every token is a unit)

    Returns:
        (batch, tokens) bool: True on the tokens of the selected units.
    """
    threshold = check_float("threshold", threshold, float("-inf"))
    units, scores = _unit_scores(attributions, feature_mask)
    return units.to_tokens(((scores >= threshold) & units.valid).long()).bool()


def mean_rationale_length(
    rationales: Iterable[Union[Sequence[bool], Sequence[int], Tensor]],
    relative: bool = False,
    percent: bool = False,
) -> float:
    """Mean size of gold rationales, e.g. of a training split, to set ``k``.

    Args:
        rationales (iterable): One 0/1 (or bool) sequence per document, one entry
                    per word (or token).
        relative (bool): Deprecated: the mean share as a fraction in [0, 1];
                    use ``percent``. Default: False
        percent (bool): Return the mean share of words in the rationale, in
                    percent (for :func:`top_percent_rationale`), instead of the
                    mean number of words (for :func:`top_k_rationale`).
                    Default: False

    Returns:
        The mean number (or share) of rationale words per document.
    """
    if relative:
        warn_renamed("relative=True", "percent=True (a share in percent)")
    sizes = []
    for i, rationale in enumerate(rationales):
        values = torch.as_tensor(rationale)
        if values.dim() != 1 or values.numel() == 0:
            raise ValueError(
                f"`rationales`[{i}] must be a non-empty 1-D sequence of 0/1 "
                f"values; got shape {tuple(values.shape)}."
            )
        if not bool(((values == 0) | (values == 1)).all()):
            raise ValueError(f"`rationales`[{i}] must hold only 0/1 values.")
        size = float(values.float().sum())
        share = size / values.numel()
        sizes.append(100 * share if percent else share if relative else size)
    if not sizes:
        raise ValueError("`rationales` is empty.")
    return sum(sizes) / len(sizes)


def _unit_scores(
    attributions: Tensor, feature_mask: Optional[Tensor]
) -> Tuple[Units, Tensor]:
    if not isinstance(attributions, Tensor) or attributions.dim() != 2:
        raise ValueError(
            "`attributions` must be a (batch, tokens) tensor; got "
            f"{getattr(attributions, 'shape', type(attributions).__name__)}."
        )
    batch, tokens = attributions.shape
    units = build_units(feature_mask, batch, tokens, attributions.device)
    # The metrics' rule: a word's shared score for word-level methods, the sum
    # of its tokens' for token-level ones.
    scores = units.pool(attributions.float(), reduce="auto")
    return units, scores.masked_fill(~units.valid, -float("inf"))


def _per_example(
    value: Union[int, Sequence[int], Tensor], batch: int, device: Any
) -> Tensor:
    if isinstance(value, (bool, str)) or not isinstance(
        value, (int, float, Sequence, Tensor)
    ):
        raise TypeError(
            "`k` must be an int, a list of ints or a tensor; got "
            f"{type(value).__name__}."
        )
    values = torch.as_tensor(value, device=device).reshape(-1)
    if values.is_floating_point() or bool((values < 0).any()):
        raise ValueError(f"`k` must hold non-negative integers; got {value!r}.")
    if values.numel() not in (1, batch):
        raise ValueError(
            f"`k` has {values.numel()} entries; expected 1 or the batch size {batch}."
        )
    return values.long().expand(batch)


def _select(units: Units, scores: Tensor, k: Union[float, Tensor]) -> Tensor:
    """Tokens of the best units of each example (ties to the earlier unit)."""
    # The plausibility metrics' own selection, so that a hard rationale made
    # here is the one their ``k`` would select.
    chosen = select_words(scores, units.valid, k, torch.zeros_like(units.valid))
    return units.to_tokens(chosen.long()).bool()
