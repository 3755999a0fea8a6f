"""Delta Accuracy: how much a classifier's accuracy falls when each example's
top-k words by attribution are removed.

MASE's headline metric (Yang et al. 2025); its exact protocol is not public, so
this is our reading: over a dataset, accuracy on the original inputs minus
accuracy after removing the top-k words, for several k given as a number of
words (1, 2, 3, 5; all words when a sentence has fewer) and as a percentage of
each example's words (10%, 20%; the k% rule of every metric), against the gold
labels and against the model's original predictions (then it is the rate of
flipped predictions). Higher is better: removing truly important words should
hurt. Report it beside the same curve for random attributions.
"""

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from captum_nlp_ext._utils.deprecation import dropped_argument
from captum_nlp_ext._utils.validation import check_int
from captum_nlp_ext.metrics._removal import Removal
from captum_nlp_ext.metrics._result import MetricResult, summarize
from captum_nlp_ext.metrics.faithfulness._erasure import (
    check_percents,
    document,
    prepare_erasure,
    words_for_percent,
)


def _check_labels(labels: Any, batch: int, n_classes: int) -> Tensor:
    if not isinstance(labels, Tensor) or labels.is_floating_point():
        raise TypeError("`labels` must be an integer tensor of shape (batch,).")
    if labels.shape != (batch,):
        raise ValueError(
            f"`labels` must have shape ({batch},); got {tuple(labels.shape)}."
        )
    if bool(((labels < 0) | (labels >= n_classes)).any()):
        raise ValueError(f"`labels` must lie in [0, {n_classes - 1}].")
    return labels


@dropped_argument(
    "target", "it compares the predicted class with the labels, whatever the target"
)
@document
def delta_accuracy(
    forward_func: Callable[..., Any],
    inputs: Tensor,
    attributions: Tensor,
    *,
    labels: Optional[Tensor] = None,
    words: Sequence[int] = (1, 2, 3, 5),
    percents: Sequence[float] = (10.0, 20.0),
    feature_mask: Optional[Tensor] = None,
    additional_forward_args: Any = None,
    removal: Union[str, Removal] = "delete",
    pool: str = "auto",
    internal_batch_size: Optional[int] = None,
    show_progress: bool = False,
) -> Dict[str, MetricResult]:
    r"""Accuracy before minus after removing the top-k words, for each k.

    Per example the value is :math:`1[\hat y(x) = y] - 1[\hat y(x') = y]`
    (-1, 0 or 1), so the mean is the drop of accuracy and its bootstrap
    interval is over examples. Pass the whole evaluation set (in batches: the
    per-example values of several calls can be concatenated and summarized
    with :func:`captum_nlp_ext.metrics.summarize`).

    Args:
        {head_args}
        labels (Tensor, optional): (batch,) gold labels; None skips the
                    gold-label results. Default: None
        words (sequence of int): k as numbers of words. Default: (1, 2, 3, 5)
        percents (sequence of float): k as percentages of each example's
                    words. Default: (10.0, 20.0)
        {feature_mask_arg}
        {additional_args}
        {removal_arg}
        pool (str): Token attributions to word scores (see the other metrics).
                    Default: "auto"
        internal_batch_size (int, optional): Perturbed copies per forward
                    pass. Default: None (64)
        show_progress (bool): Show a progress bar. Default: False

    Returns:
        dict of MetricResult keyed ``"gold@<k>"`` (with ``labels``) and
        ``"prediction@<k>"``, where ``<k>`` is ``"3w"`` (words) or ``"10%"``;
        ``details["accuracy_before"]`` and ``["accuracy_after"]`` hold the two
        accuracies.
    """
    for k in words:
        check_int("words", k, 0)
    percents = check_percents("percents", percents) if len(percents) else ()
    if not len(words) and not len(percents):
        raise ValueError("`words` and `percents` are both empty: give some k.")
    erasure = prepare_erasure(
        forward_func=forward_func,
        inputs=inputs,
        attributions=attributions,
        feature_mask=feature_mask,
        target=None,
        additional_forward_args=additional_forward_args,
        removal=removal,
        output="logits",
        pool=pool,
        internal_batch_size=internal_batch_size,
        show_progress=show_progress,
    )
    batch, count = erasure.batch, erasure.units.count
    before = erasure.probabilities.argmax(dim=1)
    references = {"prediction": before}
    if labels is not None:
        n_classes = erasure.probabilities.shape[1]
        gold = _check_labels(labels, batch, n_classes).to(before.device)
        references = {"gold": gold, **references}
    schedule: List[Tuple[str, Tensor]] = [
        (f"{k}w", torch.minimum(torch.full_like(count, k), count)) for k in words
    ] + [(f"{k:g}%", words_for_percent(k, count)) for k in percents]
    n_top = torch.stack([n for _, n in schedule], dim=1)
    row_example = torch.arange(batch, device=inputs.device).repeat_interleave(
        len(schedule)
    )
    keep = ~erasure.top_words(row_example, n_top.reshape(-1))
    after = (
        erasure.row_probabilities(row_example, keep, "delta accuracy")
        .argmax(dim=1)
        .view(batch, len(schedule))
    )
    results = {}
    for reference_name, reference in references.items():
        correct_before = (before == reference).float()
        correct_after = (after == reference.unsqueeze(1)).float()
        for j, (k_name, _) in enumerate(schedule):
            key = f"{reference_name}@{k_name}"
            results[key] = summarize(
                f"delta_accuracy_{key}",
                correct_before - correct_after[:, j],
                **erasure.details(
                    reference=reference_name,
                    k=k_name,
                    accuracy_before=float(correct_before.mean()),
                    accuracy_after=float(correct_after[:, j].mean()),
                    higher_is_better=True,
                ),
            )
    return results
