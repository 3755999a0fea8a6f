"""Leave-one-out (LOO) word importance and the Kendall tau of attributions with
it (ferret's tau-LOO; Attanasova et al. 2020 use the same reference).

The LOO score of a word is :math:`p(x) - p(x \\setminus w)`, the drop of the
target's probability when that word alone is removed (by the chosen removal
mode; the evaluation spec's reference is deletion).
"""

from typing import Any, Callable, Optional, Union

import torch
from torch import Tensor

from captum_nlp_ext._utils.deprecation import renamed_arguments, softmax_flag
from captum_nlp_ext._utils.targets import TargetType
from captum_nlp_ext.metrics._removal import Removal
from captum_nlp_ext.metrics._result import MetricResult, summarize
from captum_nlp_ext.metrics._words import check_attributions
from captum_nlp_ext.metrics.faithfulness._erasure import (
    document,
    Erasure,
    prepare_erasure,
)


def _loo_word_scores(erasure: Erasure) -> Tensor:
    """(batch, max_units) LOO scores, 0 on empty slots."""
    count = erasure.units.count
    device = count.device
    row_example = torch.arange(erasure.batch, device=device).repeat_interleave(count)
    starts = torch.cumsum(count, dim=0) - count
    left_out = torch.arange(row_example.shape[0], device=device) - starts[row_example]
    slots = torch.arange(erasure.units.max_units, device=device)
    keep = slots.unsqueeze(0) != left_out.unsqueeze(1)
    removed = erasure.row_target_probabilities(row_example, keep, "leave-one-out")
    drops = erasure.target_probability[row_example] - removed
    scores = torch.zeros(
        erasure.batch, erasure.units.max_units, dtype=drops.dtype, device=device
    )
    scores[row_example, left_out] = drops
    return scores


@renamed_arguments(apply_softmax=("output", softmax_flag))
@document
def leave_one_out(
    forward_func: Callable[..., Any],
    inputs: Tensor,
    *,
    feature_mask: Optional[Tensor] = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
    removal: Union[str, Removal] = "delete",
    output: str = "logits",
    internal_batch_size: Optional[int] = None,
    show_progress: bool = False,
) -> Tensor:
    r"""Leave-one-out attributions: each word's :math:`p(x) - p(x \setminus w)`.

    One forward pass per word. The result is itself an attribution (the
    occlusion of single words, by the chosen removal mode) and the reference of
    :func:`kendall_tau_loo`; compute it once and pass it as ``loo`` to compare
    several methods.

    Args:
        forward_func (Callable): The model's forward function.
        inputs (Tensor): (batch, tokens) token ids.
        {tail_args}
        {removal_arg}
        output (str): What ``forward_func`` returns: ``"logits"``
                    (turned into probabilities) or ``"probs"``; the
                    deprecated ``apply_softmax`` flag maps to it.
                    Default: "logits"
        internal_batch_size (int, optional): Perturbed copies per forward
                    pass. Default: None (64)
        show_progress (bool): Show a progress bar. Default: False

    Returns:
        (batch, tokens) attributions: every token of a word carries the word's
        score, excluded tokens 0.
    """
    erasure = prepare_erasure(
        forward_func=forward_func,
        inputs=inputs,
        attributions=None,
        feature_mask=feature_mask,
        target=target,
        additional_forward_args=additional_forward_args,
        removal=removal,
        output=output,
        pool="auto",
        internal_batch_size=internal_batch_size,
        show_progress=show_progress,
    )
    return erasure.units.to_tokens(_loo_word_scores(erasure))


def kendall_tau_b(x: Tensor, y: Tensor, valid: Tensor) -> Tensor:
    """Kendall's tau-b of each row of ``x`` and ``y`` over its ``valid`` entries
    (ties counted as in scipy.stats.kendalltau); NaN with fewer than two
    entries or when either side is constant."""
    pair = valid.unsqueeze(2) & valid.unsqueeze(1)
    pair = torch.triu(pair, diagonal=1)
    sign_x = torch.sign(x.unsqueeze(2) - x.unsqueeze(1)) * pair
    sign_y = torch.sign(y.unsqueeze(2) - y.unsqueeze(1)) * pair
    concordance = (sign_x * sign_y).sum(dim=(1, 2)).double()
    untied_x = (sign_x != 0).sum(dim=(1, 2)).double()
    untied_y = (sign_y != 0).sum(dim=(1, 2)).double()
    denominator = (untied_x * untied_y).sqrt()
    return torch.where(
        denominator > 0,
        concordance / denominator.clamp_min(1),
        torch.full_like(concordance, float("nan")),
    )


@renamed_arguments(apply_softmax=("output", softmax_flag))
@document
def kendall_tau_loo(
    forward_func: Callable[..., Any],
    inputs: Tensor,
    attributions: Tensor,
    *,
    loo: Optional[Tensor] = None,
    feature_mask: Optional[Tensor] = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
    removal: Union[str, Removal] = "delete",
    output: str = "logits",
    pool: str = "auto",
    internal_batch_size: Optional[int] = None,
    show_progress: bool = False,
) -> MetricResult:
    r"""Kendall's tau-b between the word scores and the leave-one-out scores of
    each example. Higher is better; NaN for an example with one word or
    constant scores.

    Args:
        {head_args}
        loo (Tensor, optional): (batch, tokens) precomputed
                    :func:`leave_one_out` attributions (same ``target``,
                    ``feature_mask`` and ``removal``). Default: None (computed
                    here)
        {tail_args}
        {removal_arg}
        {run_args}

    Returns:
        MetricResult ``kendall_tau_loo``.
    """
    erasure = prepare_erasure(
        forward_func=forward_func,
        inputs=inputs,
        attributions=attributions,
        feature_mask=feature_mask,
        target=target,
        additional_forward_args=additional_forward_args,
        removal=removal,
        output=output,
        pool=pool,
        internal_batch_size=internal_batch_size,
        show_progress=show_progress,
    )
    assert erasure.scores is not None
    if loo is None:
        reference = _loo_word_scores(erasure)
    else:
        loo_ = check_attributions(loo, "loo", like=erasure.inputs)
        loo_ = loo_.to(erasure.inputs.device).float()
        reference = erasure.units.pool(loo_, "mean")
    values = kendall_tau_b(erasure.scores, reference, erasure.units.valid)
    return summarize(
        "kendall_tau_loo",
        values,
        **erasure.details(loo_given=loo is not None, higher_is_better=True),
    )
