"""Deletion and insertion curves and the areas under them.

Deletion (Samek et al. 2017; Petsiuk et al. 2018 for images): the target's
probability as the words are removed one by one in attribution order, highest
first; a faithful explanation makes it fall fast, so a *lower* area is better.
Insertion: the probability as the words are put back in the same order into
the input with every word removed; a *higher* area is better.

The x axis is the fraction of the example's words removed (or inserted), from
0 to 1, so examples of different lengths share one axis; the area is the
trapezoidal rule over the example's own points.
"""

from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from captum_nlp_ext._utils.deprecation import (
    keyword_only_after,
    renamed_arguments,
    softmax_flag,
)
from captum_nlp_ext._utils.targets import TargetType
from captum_nlp_ext.metrics._removal import Removal
from captum_nlp_ext.metrics._result import MetricResult, summarize
from captum_nlp_ext.metrics.faithfulness._erasure import (
    check_percents,
    document,
    Erasure,
    prepare_erasure,
    words_for_percent,
)


def _curve_steps(
    erasure: Erasure, percents: Optional[Sequence[float]]
) -> Tuple[Tensor, Tensor]:
    """(rows,) example and number of top words of every point of every curve,
    examples in order and points by increasing number of words."""
    count = erasure.units.count
    device = count.device
    if percents is None:
        row_example = torch.arange(erasure.batch, device=device).repeat_interleave(
            count + 1
        )
        starts = torch.cumsum(count + 1, dim=0) - (count + 1)
        steps = torch.arange(row_example.shape[0], device=device) - starts[row_example]
        return row_example, steps
    grid = sorted(set(percents) | {0.0, 100.0})
    n_top = torch.stack([words_for_percent(k, count) for k in grid], dim=1)
    row_example = torch.arange(erasure.batch, device=device).repeat_interleave(
        len(grid)
    )
    return row_example, n_top.reshape(-1)


def _curves(
    erasure: Erasure, percents: Optional[Sequence[float]], insertion: bool
) -> Tuple[Tensor, Tensor, Tensor]:
    row_example, steps = _curve_steps(erasure, percents)
    top = erasure.top_words(row_example, steps)
    kind = "insertion" if insertion else "deletion"
    y = erasure.row_target_probabilities(row_example, top if insertion else ~top, kind)
    x = steps.double() / erasure.units.count[row_example].double()
    return row_example, x, y.double()


def _trapezoid_areas(row_example: Tensor, x: Tensor, y: Tensor, batch: int) -> Tensor:
    same = row_example[1:] == row_example[:-1]
    pieces = (x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2 * same
    areas = torch.zeros(batch, dtype=y.dtype, device=y.device)
    return areas.index_add_(0, row_example[1:], pieces)


def _curve_metric(
    erasure: Erasure, percents: Optional[Sequence[float]], insertion: bool
) -> MetricResult:
    row_example, x, y = _curves(erasure, percents, insertion)
    areas = _trapezoid_areas(row_example, x, y, erasure.batch)
    sizes = torch.bincount(row_example, minlength=erasure.batch).tolist()
    curves = list(zip(x.cpu().split(sizes), y.cpu().split(sizes)))
    kind = "insertion" if insertion else "deletion"
    return summarize(
        f"{kind}_auc",
        areas,
        **erasure.details(
            percents=None if percents is None else tuple(percents),
            curves=curves,
            higher_is_better=insertion,
        ),
    )


@renamed_arguments(apply_softmax=("output", softmax_flag))
@document
def deletion_curve(
    forward_func: Callable[..., Any],
    inputs: Tensor,
    attributions: Tensor,
    *,
    percents: Optional[Sequence[float]] = None,
    feature_mask: Optional[Tensor] = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
    removal: Union[str, Removal] = "delete",
    output: str = "logits",
    pool: str = "auto",
    internal_batch_size: Optional[int] = None,
    show_progress: bool = False,
) -> MetricResult:
    r"""The target's probability as words are removed in attribution order, and
    the area under it. Lower is better.

    Args:
        {head_args}
        percents (sequence of float, optional): Points of the curve as
                    percentages of the words removed (the k% rule of every
                    metric; 0 and 100 are always added). None takes one point
                    per word, ``words + 1`` forward passes an example.
                    Default: None
        {tail_args}
        {removal_arg}
        {run_args}

    Returns:
        MetricResult ``deletion_auc``; ``details["curves"]`` holds each
        example's curve as a pair (fraction of words removed, probability).
        Plot with :func:`plot_curves`.
    """
    if percents is not None:
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
    return _curve_metric(erasure, percents, insertion=False)


@renamed_arguments(apply_softmax=("output", softmax_flag))
@document
def insertion_curve(
    forward_func: Callable[..., Any],
    inputs: Tensor,
    attributions: Tensor,
    *,
    percents: Optional[Sequence[float]] = None,
    feature_mask: Optional[Tensor] = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
    removal: Union[str, Removal] = "delete",
    output: str = "logits",
    pool: str = "auto",
    internal_batch_size: Optional[int] = None,
    show_progress: bool = False,
) -> MetricResult:
    r"""The target's probability as words are inserted in attribution order into
    the input with every word removed, and the area under it. Higher is better.

    Args:
        {head_args}
        percents (sequence of float, optional): Points of the curve as
                    percentages of the words inserted (0 and 100 always
                    added); None takes one point per word. Default: None
        {tail_args}
        {removal_arg}
        {run_args}

    Returns:
        MetricResult ``insertion_auc``; ``details["curves"]`` holds each
        example's curve as a pair (fraction of words inserted, probability).
    """
    if percents is not None:
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
    return _curve_metric(erasure, percents, insertion=True)


@keyword_only_after(1)
def mean_curve(result: MetricResult, *, points: int = 101) -> Tuple[Tensor, Tensor]:
    """The mean over examples of the curves of a :func:`deletion_curve` or
    :func:`insertion_curve` result, each linearly interpolated onto ``points``
    evenly spaced fractions in [0, 1].

    Returns:
        (fractions, mean probabilities), two (points,) tensors.
    """
    curves = result.details.get("curves")
    if curves is None:
        raise ValueError(
            f"`result` ({result.name}) holds no curves: pass the result of "
            "deletion_curve or insertion_curve."
        )
    grid = np.linspace(0.0, 1.0, points)
    resampled = [np.interp(grid, x.numpy(), y.numpy()) for x, y in curves]
    return torch.from_numpy(grid), torch.from_numpy(np.mean(resampled, axis=0))


@keyword_only_after(1)
def plot_curves(
    results: Union[MetricResult, Mapping[str, MetricResult]],
    *,
    ax: Any = None,
    points: int = 101,
) -> Any:
    """Plot the mean curve of one or several curve results (e.g. one per
    attribution method), the area in each label. Needs matplotlib.

    Args:
        results (MetricResult or dict): A curve result, or results keyed by
                    the label to show (a method's name).
        ax (matplotlib Axes, optional): Where to draw. Default: None (a new
                    figure)
        points (int): Interpolation points of the mean curves. Default: 101

    Returns:
        The matplotlib Axes.
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(
            "plot_curves needs matplotlib: pip install matplotlib"
        ) from error
    labelled: Dict[str, MetricResult] = (
        {results.name: results} if isinstance(results, MetricResult) else dict(results)
    )
    if ax is None:
        _, ax = plt.subplots()
    for label, result in labelled.items():
        x, y = mean_curve(result, points=points)
        ax.plot(x.numpy(), y.numpy(), label=f"{label} (area {result.mean:.3f})")
    kind = (
        "inserted" if "insertion" in next(iter(labelled.values())).name else "removed"
    )
    ax.set_xlabel(f"fraction of words {kind}")
    ax.set_ylabel("probability of the target class")
    ax.legend()
    return ax
