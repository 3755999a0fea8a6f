r"""ERASER's comprehensiveness and sufficiency, their AOPC, and log-odds.

DeYoung, Jain, Rajani, Lehman, Xiong, Socher and Wallace, "ERASER: A Benchmark
to Evaluate Rationalized NLP Models", ACL 2020. With :math:`p(\cdot)` the
probability of the target class and :math:`r_k` the top-k% words by
attribution:

- comprehensiveness :math:`= p(x) - p(x \setminus r_k)`, higher is better;
- sufficiency :math:`= p(x) - p(r_k)` (only the top words kept), lower is
  better;
- AOPC: their mean over a schedule of k, ERASER's {1, 5, 10, 20, 50}%
  (:data:`ERASER_PERCENTS`) or ferret's and EvalxNLP's {10, 20, ..., 100}%
  (:data:`FERRET_PERCENTS`);
- log-odds (Shrikumar et al. 2017; the protocol of DIG and SIG):
  :math:`\log p(x \setminus r_{20}) - \log p(x)`, lower is better. Those papers
  replace the words by [PAD]: pass ``removal=Removal("pad", ...)`` to follow
  them.
"""

from typing import Any, Callable, Optional, Sequence, Union

import torch
from torch import Tensor

from captum_nlp_ext._utils.deprecation import renamed_arguments, softmax_flag
from captum_nlp_ext._utils.targets import TargetType
from captum_nlp_ext.metrics._removal import Removal
from captum_nlp_ext.metrics._result import MetricResult, summarize
from captum_nlp_ext.metrics.faithfulness._erasure import (
    check_percents,
    document,
    ERASER_PERCENTS,
    Erasure,
    FERRET_PERCENTS,
    prepare_erasure,
    words_for_percent,
)


def schedule_name(percents: Sequence[float]) -> str:
    """``"eraser"``, ``"ferret"`` or ``"custom"``: the label of a k schedule."""
    if tuple(percents) == ERASER_PERCENTS:
        return "eraser"
    if tuple(percents) == FERRET_PERCENTS:
        return "ferret"
    return "custom"


def erased_probabilities(
    erasure: Erasure, percents: Sequence[float], keep_top: bool, desc: str
) -> Tensor:
    """(batch, len(percents)) target probabilities after removing the top k%
    words (``keep_top=False``) or all words but them (``keep_top=True``)."""
    batch, n_k = erasure.batch, len(percents)
    device = erasure.inputs.device
    n_top = torch.stack(
        [words_for_percent(k, erasure.units.count) for k in percents], dim=1
    )
    row_example = torch.arange(batch, device=device).repeat_interleave(n_k)
    top = erasure.top_words(row_example, n_top.reshape(-1))
    keep = top if keep_top else ~top
    return erasure.row_target_probabilities(row_example, keep, desc).view(batch, n_k)


def _differences(erasure: Erasure, percents: Sequence[float], keep_top: bool) -> Tensor:
    desc = "sufficiency" if keep_top else "comprehensiveness"
    probabilities = erased_probabilities(erasure, percents, keep_top, desc)
    return erasure.target_probability.unsqueeze(1) - probabilities


@renamed_arguments(apply_softmax=("output", softmax_flag))
@document
def comprehensiveness(
    forward_func: Callable[..., Any],
    inputs: Tensor,
    attributions: Tensor,
    *,
    percent: float = 20.0,
    feature_mask: Optional[Tensor] = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
    removal: Union[str, Removal] = "delete",
    output: str = "logits",
    pool: str = "auto",
    internal_batch_size: Optional[int] = None,
    show_progress: bool = False,
) -> MetricResult:
    r"""ERASER comprehensiveness at k%: :math:`p(x) - p(x \setminus r_k)`, the
    drop of the target's probability when the top k% words are removed. Higher
    is better.

    Args:
        {head_args}
        percent (float): k, in [0, 100]; the top ``ceil(k/100 * words)`` words
                    (at least one when k > 0). Default: 20.0
        {tail_args}
        {removal_arg}
        {run_args}

    Returns:
        MetricResult ``comprehensiveness@{k}%`` with one value per example.
    """
    percents = check_percents("percent", percent)
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
    values = _differences(erasure, percents, keep_top=False)[:, 0]
    return summarize(
        f"comprehensiveness@{percents[0]:g}%",
        values,
        **erasure.details(percent=percents[0], higher_is_better=True),
    )


@renamed_arguments(apply_softmax=("output", softmax_flag))
@document
def sufficiency(
    forward_func: Callable[..., Any],
    inputs: Tensor,
    attributions: Tensor,
    *,
    percent: float = 20.0,
    feature_mask: Optional[Tensor] = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
    removal: Union[str, Removal] = "delete",
    output: str = "logits",
    pool: str = "auto",
    internal_batch_size: Optional[int] = None,
    show_progress: bool = False,
) -> MetricResult:
    r"""ERASER sufficiency at k%: :math:`p(x) - p(r_k)`, the drop of the
    target's probability when only the top k% words are kept. Lower is better.

    Args:
        {head_args}
        percent (float): k, in [0, 100]. Default: 20.0
        {tail_args}
        {removal_arg}
        {run_args}

    Returns:
        MetricResult ``sufficiency@{k}%`` with one value per example.
    """
    percents = check_percents("percent", percent)
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
    values = _differences(erasure, percents, keep_top=True)[:, 0]
    return summarize(
        f"sufficiency@{percents[0]:g}%",
        values,
        **erasure.details(percent=percents[0], higher_is_better=False),
    )


def _aopc(erasure: Erasure, percents: Sequence[float], keep_top: bool) -> MetricResult:
    differences = _differences(erasure, percents, keep_top)
    kind = "sufficiency" if keep_top else "comprehensiveness"
    schedule = schedule_name(percents)
    return summarize(
        f"aopc_{kind}({schedule})",
        differences.mean(dim=1),
        **erasure.details(
            percents=tuple(percents),
            schedule=schedule,
            per_percent=dict(zip(percents, differences.mean(dim=0).tolist())),
            higher_is_better=not keep_top,
        ),
    )


@renamed_arguments(apply_softmax=("output", softmax_flag))
@document
def aopc_comprehensiveness(
    forward_func: Callable[..., Any],
    inputs: Tensor,
    attributions: Tensor,
    *,
    percents: Sequence[float] = ERASER_PERCENTS,
    feature_mask: Optional[Tensor] = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
    removal: Union[str, Removal] = "delete",
    output: str = "logits",
    pool: str = "auto",
    internal_batch_size: Optional[int] = None,
    show_progress: bool = False,
) -> MetricResult:
    r"""Area over the perturbation curve of comprehensiveness: its mean over the
    k of ``percents``. Higher is better.

    Args:
        {head_args}
        percents (sequence of float): The schedule of k:
                    :data:`ERASER_PERCENTS` (1, 5, 10, 20, 50) or
                    :data:`FERRET_PERCENTS` (10, 20, ..., 100; ferret's and
                    EvalxNLP's); the result's name and ``details["schedule"]``
                    say which. Default: ERASER_PERCENTS
        {tail_args}
        {removal_arg}
        {run_args}

    Returns:
        MetricResult ``aopc_comprehensiveness(<schedule>)``;
        ``details["per_percent"]`` holds the mean at each k.
    """
    percents = check_percents("percents", percents)
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
    return _aopc(erasure, percents, keep_top=False)


@renamed_arguments(apply_softmax=("output", softmax_flag))
@document
def aopc_sufficiency(
    forward_func: Callable[..., Any],
    inputs: Tensor,
    attributions: Tensor,
    *,
    percents: Sequence[float] = ERASER_PERCENTS,
    feature_mask: Optional[Tensor] = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
    removal: Union[str, Removal] = "delete",
    output: str = "logits",
    pool: str = "auto",
    internal_batch_size: Optional[int] = None,
    show_progress: bool = False,
) -> MetricResult:
    r"""Area over the perturbation curve of sufficiency: its mean over the k of
    ``percents``. Lower is better.

    Args:
        {head_args}
        percents (sequence of float): The schedule of k (see
                    :func:`aopc_comprehensiveness`). Default: ERASER_PERCENTS
        {tail_args}
        {removal_arg}
        {run_args}

    Returns:
        MetricResult ``aopc_sufficiency(<schedule>)``.
    """
    percents = check_percents("percents", percents)
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
    return _aopc(erasure, percents, keep_top=True)


@renamed_arguments(apply_softmax=("output", softmax_flag))
@document
def log_odds(
    forward_func: Callable[..., Any],
    inputs: Tensor,
    attributions: Tensor,
    *,
    percent: float = 20.0,
    feature_mask: Optional[Tensor] = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
    removal: Union[str, Removal] = "delete",
    output: str = "logits",
    pool: str = "auto",
    internal_batch_size: Optional[int] = None,
    show_progress: bool = False,
) -> MetricResult:
    r"""Log-odds at k%: :math:`\log p(x \setminus r_k) - \log p(x)`, natural
    logarithm, probabilities clamped at the smallest positive float. Lower is
    better.

    Args:
        {head_args}
        percent (float): k, in [0, 100]. Default: 20.0
        {tail_args}
        {removal_arg}
        {run_args}

    Returns:
        MetricResult ``log_odds@{k}%``.
    """
    percents = check_percents("percent", percent)
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
    removed = erased_probabilities(erasure, percents, False, "log-odds")[:, 0]
    tiny = torch.finfo(removed.dtype).tiny
    values = (
        removed.clamp_min(tiny).log() - erasure.target_probability.clamp_min(tiny).log()
    )
    return summarize(
        f"log_odds@{percents[0]:g}%",
        values,
        **erasure.details(percent=percents[0], higher_is_better=False),
    )
