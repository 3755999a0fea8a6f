"""Diagnostic properties of attributions (Atanasova, Simonsen, Lioma and
Augenstein, "A Diagnostic Study of Explainability Techniques for Text
Classification", EMNLP 2020): human agreement and confidence indication.

Rationale and dataset consistency live in
:mod:`captum_nlp_ext.metrics.consistency`, the cost of an attribution call in
:mod:`captum_nlp_ext.metrics.cost`.
"""

import dataclasses
from typing import Any, Callable, Optional, Sequence

import torch
from torch import Tensor

from captum_nlp_ext._utils.deprecation import keyword_only_after
from captum_nlp_ext._utils.hooks import run_forward
from captum_nlp_ext._utils.outputs import logits_to_probabilities
from captum_nlp_ext._utils.targets import resolve_target, select_target, TargetType
from captum_nlp_ext._utils.validation import (
    check_choice,
    check_inputs,
    check_int,
    format_additional_forward_args,
)
from captum_nlp_ext.metrics._result import MetricResult, summarize
from captum_nlp_ext.metrics._words import RationaleType, word_scores
from captum_nlp_ext.metrics.plausibility import auprc

OUTPUTS = ("logits", "probs")


@keyword_only_after(2)
def human_agreement(
    attributions: Tensor,
    rationale: RationaleType,
    *,
    feature_mask: Optional[Tensor] = None,
    pool: str = "auto",
    absolute: bool = False,
) -> MetricResult:
    r"""Human agreement (Atanasova et al., 2020): the mean over examples of the
    average precision of the word scores against the gold highlights (MAP).

    The paper scores sub-word tokens; here the words of ``feature_mask``.
    Average precision, ties and undefined examples are as in
    :func:`captum_nlp_ext.metrics.auprc`; the paper explains the gold class,
    so pass attributions for ``target=labels``.

    Args:
        attributions (Tensor): (batch, tokens) or (batch, tokens, hidden)
                    attributions of any method.
        rationale (Tensor or list): Gold highlights: a (batch, tokens) 0/1 mask
                    or per example a list of 0/1 flags, one a word.
        feature_mask (Tensor, optional): Word ids; negative ids exclude a token.
                    Default: None (every token is a word)
        pool (str): Pooling of token scores into words: ``"auto"``, ``"sum"``,
                    ``"mean"`` or ``"max_abs"`` (see :func:`auprc`).
                    Default: "auto"
        absolute (bool): Rank words by magnitude. Default: False

    Returns:
        MetricResult named ``"human_agreement_map"`` (higher is better).
    """
    result = auprc(
        attributions,
        rationale,
        feature_mask=feature_mask,
        pool=pool,
        absolute=absolute,
    )
    return dataclasses.replace(result, name="human_agreement_map")


@keyword_only_after(3)
def confidence_indication(
    forward_func: Callable[..., Any],
    inputs: Tensor,
    attributions: Sequence[Tensor],
    *,
    additional_forward_args: Any = None,
    feature_mask: Optional[Tensor] = None,
    target: TargetType = None,
    output: str = "logits",
    pool: str = "auto",
    n_folds: int = 5,
    seed: int = 0,
) -> MetricResult:
    r"""Confidence indication (Atanasova et al., 2020): how well the model's
    confidence can be read off the attributions, as the mean absolute error of
    a linear regression (lower is better).

    For each example, with :math:`c` the explained class and :math:`s_k(w)`
    the score of word :math:`w` in the attributions for class :math:`k`, the
    features are :math:`\sum_w \max_{k \ne c}(s_c(w) - s_k(w))`, the same with
    the mean and with the min over the other classes (one feature for two
    classes, where they coincide), as in the paper's code. The regression
    target is the softmax probability of :math:`c`.

    The paper averages five random 90/10 splits; here ``n_folds``-fold cross
    validation (seeded) predicts every example exactly once from a fit on the
    other folds, which gives one out-of-fold absolute error per example. The
    fit is ordinary least squares with an intercept (the paper's min-max
    scaling does not change its predictions). ``details["baseline_mae"]`` is
    the error of predicting the training folds' mean confidence: attributions
    that carry no information about the confidence score about as much.

    Args:
        forward_func (Callable): The model's forward function; returns
                    (batch, classes) scores or a Hugging Face ``ModelOutput``.
        inputs (Tensor): Token ids (batch, tokens) or embeddings
                    (batch, tokens, hidden).
        attributions (list of Tensor): One tensor per class, in class order:
                    the attributions of every example for that class, each
                    (batch, tokens) or (batch, tokens, hidden).
        additional_forward_args (Any, optional): Further positional arguments
                    of ``forward_func`` (an attention mask...).
                    Default: None
        feature_mask (Tensor, optional): Word ids; negative ids exclude a token.
                    Default: None (every token is a word)
        target (int, list[int], Tensor, optional): The class whose confidence is
                    predicted. Default: None (the predicted class, as the paper)
        output (str): What ``forward_func`` returns: ``"logits"`` (a softmax
                    gives the confidence) or ``"probs"``.
                    Default: "logits"
        pool (str): Pooling of token scores into words (see
                    :func:`~captum_nlp_ext.metrics.auprc`). Default: "auto"
        n_folds (int): Folds of the cross validation, >= 2 and at most the
                    batch size. Default: 5
        seed (int): Seed of the assignment of examples to folds. Default: 0

    Returns:
        MetricResult named ``"confidence_indication_mae"``.
    """
    inputs = check_inputs(inputs)
    check_choice("output", output, OUTPUTS)
    batch = inputs.shape[0]
    check_int("n_folds", n_folds, 2)
    if n_folds > batch:
        raise ValueError(
            f"`n_folds` ({n_folds}) must not exceed the number of examples ({batch})."
        )
    args = format_additional_forward_args(additional_forward_args, inputs)
    with torch.no_grad():
        scores = run_forward(forward_func, inputs, args).detach()
    if scores.dim() != 2 or scores.shape[1] < 2:
        raise ValueError(
            "`forward_func` must return (batch, classes) scores with at least two "
            f"classes; got shape {tuple(scores.shape)}."
        )
    n_classes = scores.shape[1]
    if isinstance(attributions, Tensor) or len(attributions) != n_classes:
        raise ValueError(
            f"`attributions` must be a list of {n_classes} tensors, the attributions "
            "of every example for each class in class order."
        )
    explained = resolve_target(target, scores)
    assert explained is not None
    probs = logits_to_probabilities(scores) if output == "logits" else scores
    confidence = select_target(probs, explained).to(torch.float64)
    per_class = [
        word_scores(a, feature_mask, pool, name=f"attributions[{k}]")
        for k, a in enumerate(attributions)
    ]
    valid = per_class[0][1].valid
    stacked = torch.stack([s for s, _ in per_class], dim=1)  # (batch, classes, words)
    features = _difference_features(stacked, valid, explained.to(stacked.device))
    errors, baseline = _cross_validated_errors(
        features, confidence.to(features.device), n_folds, seed
    )
    return summarize(
        "confidence_indication_mae",
        errors,
        baseline_mae=float(baseline.mean()),
        n_folds=n_folds,
        output=output,
        pool=pool,
    )


def _difference_features(scores: Tensor, valid: Tensor, explained: Tensor) -> Tensor:
    """(batch, features): word sums of the max, mean and min over the other
    classes of the explained class's score minus theirs."""
    batch, n_classes, words = scores.shape
    own = scores.gather(1, explained.view(batch, 1, 1).expand(batch, 1, words))
    others = torch.arange(n_classes, device=scores.device).unsqueeze(0) != (
        explained.unsqueeze(1)
    )
    differences = (own - scores)[others].view(batch, n_classes - 1, words)
    keep = valid.to(scores.dtype)
    if n_classes == 2:
        return (differences[:, 0] * keep).sum(dim=1, keepdim=True)
    reduced = [
        differences.amax(dim=1),
        differences.mean(dim=1),
        differences.amin(dim=1),
    ]
    return torch.stack([(r * keep).sum(dim=1) for r in reduced], dim=1)


def _cross_validated_errors(
    features: Tensor, target: Tensor, n_folds: int, seed: int
) -> "tuple[Tensor, Tensor]":
    """Out-of-fold absolute errors of least squares, and of the training mean."""
    batch = features.shape[0]
    generator = torch.Generator().manual_seed(seed)
    fold = torch.empty(batch, dtype=torch.long)
    fold[torch.randperm(batch, generator=generator)] = torch.arange(batch) % n_folds
    fold = fold.to(features.device)
    design = torch.cat([torch.ones_like(features[:, :1]), features], dim=1)
    errors = torch.empty_like(target)
    baseline = torch.empty_like(target)
    for k in range(n_folds):
        test = fold == k
        # The pseudo-inverse fits rank-deficient designs too (constant
        # attributions, fewer training examples than features).
        coefficients = torch.linalg.pinv(design[~test]) @ target[~test]
        errors[test] = (design[test] @ coefficients - target[test]).abs()
        baseline[test] = (target[~test].mean() - target[test]).abs()
    return errors, baseline
