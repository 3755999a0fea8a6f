"""Plausibility: do attributions agree with human rationales?

ERASER (DeYoung, Jain, Rajani, Lehman, Xiong, Socher and Wallace, "ERASER: A
Benchmark to Evaluate Rationalized NLP Models", ACL 2020): AUPRC of the soft
scores, token F1 and IOU F1 of hard rationales. SST word sentiment (the
protocol of LAFA, Zhang, Wang, Jiang and Song, NAACL 2022): per-sentence
Pearson correlation with gold word scores.

Every function works on words: token attributions ((batch, tokens), or
(batch, tokens, hidden) summed over hidden) from any method, Captum's included,
are pooled over the units of ``feature_mask`` (negative ids excluded), and the
rationale is brought to the same words.
"""

from typing import Any, Optional

import torch
from torch import Tensor

from captum_nlp_ext._utils.deprecation import keyword_only_after
from captum_nlp_ext._utils.ranking import (
    average_precision,
    chance_average_precision,
    KType,
    matched_spans,
    select_words,
)
from captum_nlp_ext._utils.validation import check_choice, check_float
from captum_nlp_ext.metrics._result import MetricResult, summarize
from captum_nlp_ext.metrics._stats import masked_pearson
from captum_nlp_ext.metrics._words import (
    RationaleType,
    word_rationale,
    word_scores,
    word_values,
    WordValuesType,
)

AUPRC_METHODS = ("average_precision", "trapezoid")


@keyword_only_after(2)
def auprc(
    attributions: Tensor,
    rationale: RationaleType,
    *,
    feature_mask: Optional[Tensor] = None,
    pool: str = "auto",
    absolute: bool = False,
    method: str = "average_precision",
) -> MetricResult:
    r"""Area under the precision-recall curve of the word scores against the
    human rationale, per example (ERASER's threshold-free plausibility score).

    The area is the average precision
    :math:`\sum_n (R_n - R_{n-1}) P_n` over the distinct score thresholds.
    Tied scores form one threshold: tied words enter together and share its
    precision (no order is invented inside a tie; as scikit-learn). An example
    whose rationale is empty has no defined value (NaN, left out of the mean);
    one whose every word is in the rationale scores 1.

    ``details["chance"]`` is the mean expected value of a uniformly random
    ranking of each example's words (Bestgen, 2015), the level random
    attributions sit at.

    Args:
        attributions (Tensor): (batch, tokens) or (batch, tokens, hidden)
                    attributions of any method.
        rationale (Tensor or list): (batch, tokens) 0/1 token mask (a word is in
                    the rationale if any of its tokens is), or per example a
                    list of 0/1 flags, one a word of ``feature_mask``.
        feature_mask (Tensor, optional): (batch, tokens) or (1, tokens) word ids;
                    negative ids exclude a token.
                    Default: None (every token is a word)
        pool (str): How a word's token scores combine: ``"auto"`` (the mean
                    when the tokens of every word share one score, as with
                    word-level methods, else the sum), ``"sum"`` (the word's
                    total, for token-level methods), ``"mean"`` or ``"max_abs"``.
                    Default: "auto"
        absolute (bool): Rank words by the magnitude of their score, so that
                    evidence against the explained class counts as evidence.
                    Default: False (evidence for the explained class)
        method (str): ``"average_precision"`` or ``"trapezoid"`` (trapezoids
                    between consecutive points from (0, 1), the ``auprc`` key of
                    ERASER's script; optimistic).
                    Default: "average_precision"

    Returns:
        MetricResult named ``"auprc"`` (higher is better).
    """
    check_choice("method", method, AUPRC_METHODS)
    scores, units = word_scores(attributions, feature_mask, pool, absolute)
    gold = word_rationale(rationale, units)
    values = average_precision(scores, gold, units.valid, method)
    chance = chance_average_precision(units.count, gold.sum(dim=1))
    return summarize(
        "auprc",
        values,
        method=method,
        pool=pool,
        absolute=absolute,
        chance=_nanmean(chance) if method == "average_precision" else None,
    )


@keyword_only_after(2)
def token_f1(
    attributions: Tensor,
    rationale: RationaleType,
    *,
    feature_mask: Optional[Tensor] = None,
    k: KType = None,
    pool: str = "auto",
    absolute: bool = False,
) -> MetricResult:
    r"""Word-level F1 of the top-k words against the human rationale, per
    example (ERASER's token F1; its ``instance_macro`` F1 is the mean).

    The top-k words form a hard rationale; ties at the cut go to the earlier
    word. With the default ``k`` (each example's rationale length) precision,
    recall and F1 coincide. An empty selection has precision 0 and F1 0 (as
    ERASER); an example with an empty rationale has no defined value (NaN).
    ``details`` holds the mean precision and recall, the micro-averaged F1 over
    all words, and ``chance``, the mean expected F1 of k words drawn at random
    (:math:`2kP / (N(k+P))` for N words, P in the rationale).

    Args:
        attributions (Tensor): (batch, tokens) or (batch, tokens, hidden)
                    attributions of any method; a hard 0/1 rationale works with
                    ``k="positive"``.
        rationale (Tensor or list): The human rationale, as in :func:`auprc`.
        feature_mask (Tensor, optional): Word ids, as in :func:`auprc`.
                    Default: None
        k (None, int, float, str or Tensor): Words to select. None: each
                    example's rationale length. int: that many words. float in
                    (0, 1]: that fraction of each example's words, rounded half
                    up (it can round to 0). ``"positive"``: every word scored
                    above 0. (batch,) integer tensor: per example. ERASER's
                    choice for soft scores, the data set's mean rationale
                    length, is an int.
                    Default: None
        pool (str): Pooling of token scores into words, as in :func:`auprc`.
                    Default: "sum"
        absolute (bool): Rank by magnitude. Default: False

    Returns:
        MetricResult named ``"token_f1"`` (higher is better).
    """
    scores, units = word_scores(attributions, feature_mask, pool, absolute)
    gold = word_rationale(rationale, units)
    selected = select_words(scores, units.valid, k, gold)
    overlap = (selected & gold).sum(dim=1).to(torch.float64)
    n_selected = selected.sum(dim=1).to(torch.float64)
    n_gold = gold.sum(dim=1).to(torch.float64)
    precision = torch.where(n_selected > 0, overlap / n_selected.clamp_min(1), 0.0)
    recall = torch.where(n_gold > 0, overlap / n_gold.clamp_min(1), torch.nan)
    n_words = units.count.to(torch.float64)
    chance = 2 * n_selected * n_gold / (n_words * (n_selected + n_gold))
    defined = n_gold > 0
    micro_p = _ratio(overlap[defined].sum(), n_selected[defined].sum())
    micro_r = _ratio(overlap[defined].sum(), n_gold[defined].sum())
    return summarize(
        "token_f1",
        _f1(precision, recall),
        k=_describe_k(k),
        pool=pool,
        absolute=absolute,
        precision=_nanmean(torch.where(defined, precision, torch.nan)),
        recall=_nanmean(recall),
        micro_f1=float(_f1(micro_p, micro_r)),
        chance=_nanmean(torch.where(defined, chance.nan_to_num(0.0), torch.nan)),
    )


@keyword_only_after(2)
def iou_f1(
    attributions: Tensor,
    rationale: RationaleType,
    *,
    feature_mask: Optional[Tensor] = None,
    k: KType = None,
    threshold: float = 0.5,
    pool: str = "auto",
    absolute: bool = False,
) -> MetricResult:
    r"""ERASER's IOU F1: span-level F1 where a predicted span matches a gold
    span when their intersection over union is >= ``threshold``.

    Spans are maximal runs of consecutive words (in word order) of the hard
    rationale (the top-k words, as in :func:`token_f1`) and of the human
    rationale. Per example, precision = matched predicted spans / predicted
    spans (0 when nothing is predicted), recall = matched gold spans / gold
    spans, and the value is their F1 (NaN when the rationale is empty). Runs
    never touch, so at most one span of each side matches a given span, and the
    counts agree with ERASER's ``partial_match_score``.

    The mean is the average per-example F1. ERASER's script reports
    ``details["eraser_macro_f1"]``, the F1 of the mean precision (over examples
    with a prediction) and the mean recall (over examples with a rationale);
    ``details["micro_f1"]`` pools the spans of all examples.

    Args:
        attributions (Tensor): (batch, tokens) or (batch, tokens, hidden)
                    attributions; a hard 0/1 rationale works with
                    ``k="positive"``.
        rationale (Tensor or list): The human rationale, as in :func:`auprc`.
        feature_mask (Tensor, optional): Word ids, as in :func:`auprc`.
                    Default: None
        k (None, int, float, str or Tensor): Words selected, as in
                    :func:`token_f1`. Default: None (the rationale length)
        threshold (float): IOU needed for a match, in (0, 1]. Default: 0.5
        pool (str): Pooling of token scores into words (see
                    :func:`~captum_nlp_ext.metrics.auprc`). Default: "auto"
        absolute (bool): Rank by magnitude. Default: False

    Returns:
        MetricResult named ``"iou_f1"`` (higher is better).
    """
    check_float("threshold", threshold, 0.0, 1.0)
    scores, units = word_scores(attributions, feature_mask, pool, absolute)
    gold = word_rationale(rationale, units)
    selected = select_words(scores, units.valid, k, gold)
    n_pred, n_gold, hit_pred, hit_gold = (
        t.to(torch.float64) for t in matched_spans(selected, gold, threshold)
    )
    precision = torch.where(n_pred > 0, hit_pred / n_pred.clamp_min(1), 0.0)
    recall = torch.where(n_gold > 0, hit_gold / n_gold.clamp_min(1), torch.nan)
    macro_p = _nanmean(torch.where(n_pred > 0, precision, torch.nan), empty=0.0)
    macro_r = _nanmean(recall, empty=0.0)
    defined = n_gold > 0
    micro_p = _ratio(hit_pred[defined].sum(), n_pred[defined].sum())
    micro_r = _ratio(hit_gold[defined].sum(), n_gold[defined].sum())
    return summarize(
        "iou_f1",
        _f1(precision, recall),
        threshold=threshold,
        k=_describe_k(k),
        pool=pool,
        absolute=absolute,
        precision=macro_p,
        recall=macro_r,
        eraser_macro_f1=float(_f1(torch.tensor(macro_p), torch.tensor(macro_r))),
        micro_f1=float(_f1(micro_p, micro_r)),
    )


@keyword_only_after(2)
def word_score_correlation(
    attributions: Tensor,
    word_scores_gold: WordValuesType,
    *,
    feature_mask: Optional[Tensor] = None,
    pool: str = "auto",
    absolute: bool = True,
) -> MetricResult:
    r"""Per-sentence Pearson correlation between the word attributions and gold
    word scores (LAFA's SST protocol: gold = the magnitude of each word's
    centred sentiment from the SST phrase trees, e.g. :math:`|s - 0.5|` for a
    sentiment :math:`s \in [0, 1]`).

    Words with an unknown (NaN) gold score are left out of their sentence. A
    sentence with fewer than two scored words, or whose attributions or gold
    scores are constant, has no correlation: NaN, left out of the mean.

    Args:
        attributions (Tensor): (batch, tokens) or (batch, tokens, hidden)
                    attributions of any method.
        word_scores_gold (Tensor or list): Gold scores: a (batch, tokens) float
                    tensor (a word gets the mean of its tokens'), or per example
                    a list of floats, one a word of ``feature_mask``.
        feature_mask (Tensor, optional): Word ids, as in :func:`auprc`.
                    Default: None
        pool (str): Pooling of token scores into words (see
                    :func:`~captum_nlp_ext.metrics.auprc`). Default: "auto"
        absolute (bool): Correlate the magnitude of the attributions, as the
                    gold is a magnitude (a strongly negative word matters to a
                    positive prediction too).
                    Default: True

    Returns:
        MetricResult named ``"word_score_pearson"`` (higher is better).
    """
    scores, units = word_scores(attributions, feature_mask, pool, absolute)
    gold = word_values(word_scores_gold, units, "word_scores_gold")
    valid = units.valid & ~gold.isnan()
    values = masked_pearson(scores, gold.nan_to_num(0.0), valid)
    return summarize("word_score_pearson", values, pool=pool, absolute=absolute)


def _f1(precision: Tensor, recall: Tensor) -> Tensor:
    """Harmonic mean, 0 when either is 0 (as ERASER), NaN when recall is."""
    product = 2 * precision * recall
    total = precision + recall
    return torch.where(total > 0, product / total.clamp_min(1e-300), 0.0).where(
        ~recall.isnan(), torch.nan
    )


def _ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    return torch.where(denominator > 0, numerator / denominator.clamp_min(1), 0.0)


def _nanmean(values: Tensor, empty: Any = float("nan")) -> float:
    defined = values[~values.isnan()]
    return float(defined.mean()) if defined.numel() else empty


def _describe_k(k: KType) -> Any:
    if k is None:
        return "rationale length"
    if isinstance(k, Tensor):
        return "per example"
    return k
