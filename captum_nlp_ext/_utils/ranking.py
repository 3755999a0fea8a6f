"""Batched ranking machinery of the plausibility metrics: average precision,
top-k selection of words and contiguous spans with their IOU matches."""

from typing import Any, Tuple

import torch
from torch import Tensor

KType = Any  # None, int, float, "positive" or a (batch,) integer tensor


def average_precision(
    scores: Tensor, labels: Tensor, valid: Tensor, method: str = "average_precision"
) -> Tensor:
    r"""Area under each row's precision-recall curve of ``scores`` against the
    boolean ``labels`` over the valid entries; NaN for a row without positives.

    Tied scores form one threshold: the tied words enter the ranking together,
    so every positive among them gets the precision of the whole group (as
    scikit-learn's ``average_precision_score``; no optimistic or pessimistic
    order inside a tie).

    ``method="average_precision"``: :math:`\sum_n (R_n - R_{n-1}) P_n` over the
    thresholds (step-wise, no interpolation). ``"trapezoid"``: trapezoids
    between consecutive (recall, precision) points starting at (0, 1), what
    ERASER's script reports as ``auprc`` (``sklearn.metrics.auc`` over
    ``precision_recall_curve``); it is optimistic, prefer the first.
    """
    filled = torch.where(valid, scores, -torch.inf)
    order = filled.argsort(dim=1, descending=True, stable=True)
    descending = filled.gather(1, order)
    positive = (labels & valid).gather(1, order).to(torch.float64)
    # Ascending negated scores let searchsorted count, for each word, the words
    # scored at least as high (the size of its threshold's selection) and the
    # words scored strictly higher (the previous threshold's selection).
    ascending = (-descending).contiguous()
    at_least = torch.searchsorted(ascending, ascending, right=True)
    above = torch.searchsorted(ascending, ascending, right=False)
    cumulative = torch.nn.functional.pad(positive.cumsum(dim=1), (1, 0))
    hits_at_least = cumulative.gather(1, at_least)
    hits_above = cumulative.gather(1, above)
    n_positive = positive.sum(dim=1)
    precision = hits_at_least / at_least.clamp_min(1)
    if method == "average_precision":
        area = (positive * precision).sum(dim=1) / n_positive.clamp_min(1)
    else:
        previous = torch.where(above > 0, hits_above / above.clamp_min(1), 1.0)
        step = (hits_at_least - hits_above) / n_positive.clamp_min(1).unsqueeze(1)
        rank = torch.arange(scores.shape[1], device=scores.device)
        last_of_tie = (rank.unsqueeze(0) == at_least - 1) & valid.gather(1, order)
        area = (last_of_tie * step * (precision + previous) / 2).sum(dim=1)
    return torch.where(n_positive > 0, area, torch.nan)


def chance_average_precision(n_words: Tensor, n_positive: Tensor) -> Tensor:
    r"""Expected average precision of a uniformly random ranking of ``n_words``
    words of which ``n_positive`` are positive (Bestgen, 2015):
    :math:`\frac{1}{N}\left(\frac{P-1}{N-1}(N - H_N) + H_N\right)`, with
    :math:`H_N` the N-th harmonic number; NaN where there is no positive."""
    n = n_words.to(torch.float64)
    p = n_positive.to(torch.float64)
    top = int(n.max().item()) if n.numel() else 0
    harmonic = torch.cat(
        [
            torch.zeros(1, dtype=torch.float64),
            (1 / torch.arange(1, top + 1, dtype=torch.float64)).cumsum(0),
        ]
    ).to(n.device)[n_words.long()]
    share = torch.where(n > 1, (p - 1) / (n - 1).clamp_min(1), 0.0)
    expected = (share * (n - harmonic) + harmonic) / n.clamp_min(1)
    return torch.where(p > 0, expected, torch.nan)


def resolve_k(k: KType, n_words: Tensor, n_gold: Tensor) -> Tensor:
    """Words to select in each example, (batch,) long.

    None: the example's rationale length. int: that many words. float in
    (0, 1]: that fraction of the example's words, rounded half up (so it can
    round to 0 words). (batch,) integer tensor: per example. Always clamped to
    the example's word count.
    """
    batch = n_words.shape[0]
    if k is None:
        chosen = n_gold.long()
    elif isinstance(k, bool):
        raise TypeError("`k` must be None, an int, a float, 'positive' or a tensor.")
    elif isinstance(k, int):
        if k < 0:
            raise ValueError(f"`k` must be >= 0 words; got {k}.")
        chosen = torch.full((batch,), k, dtype=torch.long, device=n_words.device)
    elif isinstance(k, float):
        if not 0 < k <= 1:
            raise ValueError(f"`k` as a fraction of words must lie in (0, 1]; got {k}.")
        chosen = torch.floor(n_words.to(torch.float64) * k + 0.5).long()
    elif isinstance(k, Tensor):
        if k.shape != (batch,) or k.is_floating_point() or bool((k < 0).any()):
            raise ValueError(
                f"`k` as a tensor must hold {batch} non-negative integers (one an "
                f"example); got shape {tuple(k.shape)}, dtype {k.dtype}."
            )
        chosen = k.to(n_words.device).long()
    else:
        raise TypeError(
            "`k` must be None, an int, a float in (0, 1], 'positive' or a (batch,) "
            f"integer tensor; got {type(k).__name__}."
        )
    return torch.minimum(chosen, n_words.long())


def select_words(scores: Tensor, valid: Tensor, k: KType, gold: Tensor) -> Tensor:
    """A hard rationale, (batch, max_words) bool: the top-k words by score (ties
    broken toward the earlier word), or with ``k="positive"`` every word scored
    above 0 (a 0/1 rationale passed as scores selects its 1s)."""
    if isinstance(k, str):
        if k != "positive":
            raise ValueError(f"`k` as a string must be 'positive'; got {k!r}.")
        return (scores > 0) & valid
    n = resolve_k(k, valid.sum(dim=1), gold.sum(dim=1))
    return (word_ranks(scores, valid) < n.unsqueeze(1)) & valid


def word_ranks(scores: Tensor, valid: Tensor) -> Tensor:
    """(batch, max_words) rank of each word, 0 = highest score; ties go to the
    earlier word (a stable sort) and empty slots rank last. The one ranking of
    words in every metric and rationale."""
    keyed = torch.where(valid, scores, torch.full_like(scores, -torch.inf))
    order = keyed.argsort(dim=1, descending=True, stable=True)
    positions = torch.arange(order.shape[1], device=order.device)
    return torch.empty_like(order).scatter_(1, order, positions.expand_as(order))


def spans(selected: Tensor) -> Tuple[Tensor, Tensor]:
    """Maximal runs of consecutive selected words.

    Returns each word's span id ((batch, words) long, -1 where not selected)
    and each span's length ((batch, words) long, 0 past the example's spans).
    """
    previous = torch.nn.functional.pad(selected[:, :-1], (1, 0), value=False)
    starts = selected & ~previous
    span_id = torch.where(selected, starts.long().cumsum(dim=1) - 1, -1)
    lengths = torch.zeros_like(span_id)
    lengths.scatter_add_(1, span_id.clamp_min(0), selected.long())
    return span_id, lengths


def matched_spans(
    predicted: Tensor, gold: Tensor, threshold: float
) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """ERASER's partial match: a predicted span matches when its best IOU with a
    gold span is >= ``threshold``, and symmetrically for gold spans.

    Returns, per example, (predicted spans, gold spans, matched predicted spans,
    matched gold spans), each (batch,) long.
    """
    batch, words = predicted.shape
    pred_id, pred_len = spans(predicted)
    gold_id, gold_len = spans(gold)
    # Only words in both a predicted and a gold span intersect anything, so the
    # intersections are counted over (example, predicted span, gold span) keys
    # of those words instead of a dense span-by-span matrix.
    both = (pred_id >= 0) & (gold_id >= 0)
    example = torch.arange(batch, device=predicted.device).unsqueeze(1).expand_as(both)
    keys = (example[both] * words + pred_id[both]) * words + gold_id[both]
    pairs, intersection = torch.unique(keys, return_counts=True)
    pair_example = pairs // (words * words)
    pair_pred = (pairs // words) % words
    pair_gold = pairs % words
    union = (
        pred_len[pair_example, pair_pred] + gold_len[pair_example, pair_gold]
    ) - intersection
    iou = intersection.to(torch.float64) / union
    best_pred = torch.zeros(batch * words, dtype=torch.float64, device=iou.device)
    best_pred.scatter_reduce_(0, pair_example * words + pair_pred, iou, "amax")
    best_gold = torch.zeros_like(best_pred)
    best_gold.scatter_reduce_(0, pair_example * words + pair_gold, iou, "amax")
    n_pred = (pred_len > 0).sum(dim=1)
    n_gold = (gold_len > 0).sum(dim=1)
    hit_pred = (best_pred.view(batch, words) >= threshold).sum(dim=1)
    hit_gold = (best_gold.view(batch, words) >= threshold).sum(dim=1)
    return n_pred, n_gold, hit_pred, hit_gold
