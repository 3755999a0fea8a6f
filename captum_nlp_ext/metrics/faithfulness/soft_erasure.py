r"""Soft comprehensiveness and soft sufficiency (Zhao and Aletras, "Incorporating
Attribution Importance for Improving Faithfulness Metrics", ACL 2023).

Instead of removing the top words outright, every word's embedding is damaged
in proportion to its importance: each element of the embedding of a word with
normalized importance :math:`q \in [0, 1]` is kept with probability :math:`q`
for sufficiency (important words survive) and :math:`1 - q` for
comprehensiveness (important words are erased), and zeroed otherwise, like
dropout on the output of ``layer``.

Our reading, where the paper's summary is not explicit:

- :math:`q` is the min-max normalization of the example's word scores (all
  equal: 0.5 each); the tokens of a word share its :math:`q`; excluded tokens
  are never damaged.
- With ``normalized=True`` (the paper's Soft-NC / Soft-NS, after Carton et al.
  2020) the values are divided by the effect of erasing every word's embedding,
  :math:`d_0 = \max(0, p(x) - p(x_0))`, and clipped to [0, 1] as the authors'
  code does: Soft-NC :math:`= \max(0, p(x) - p(x')) / d_0` and
  Soft-NS :math:`= (d_0 - \max(0, p(x) - p(x'))) / d_0`; both higher is
  better. They are NaN when :math:`d_0 = 0` (erasing everything does not lower
  the target; the authors add 1e-4 to the denominator instead, which turns
  such examples into 0 or 1). With ``normalized=False`` they are ERASER's
  differences :math:`p(x) - p(x')` (comprehensiveness higher, sufficiency
  lower is better), neither clipped nor normalized.
- The values are averaged over ``n_samples`` random masks (the paper draws
  one).
"""

from typing import Any, Callable, Optional

import torch
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.batching import evaluate_rows
from captum_nlp_ext._utils.checks import check_layer_output
from captum_nlp_ext._utils.deprecation import renamed_arguments, softmax_flag
from captum_nlp_ext._utils.hooks import forward_with_layer_output
from captum_nlp_ext._utils.random import example_generator
from captum_nlp_ext._utils.targets import select_target, TargetType
from captum_nlp_ext._utils.validation import check_int
from captum_nlp_ext.metrics._result import MetricResult, summarize
from captum_nlp_ext.metrics.faithfulness._erasure import (
    document,
    Erasure,
    prepare_erasure,
    to_probabilities,
)


def normalized_importance(erasure: Erasure) -> Tensor:
    """(batch, tokens) min-max normalized word scores spread onto the tokens;
    1 on excluded tokens."""
    assert erasure.scores is not None
    units = erasure.units
    scores = erasure.scores
    inf = torch.full_like(scores, float("inf"))
    low = torch.where(units.valid, scores, inf).amin(dim=1, keepdim=True)
    high = torch.where(units.valid, scores, -inf).amax(dim=1, keepdim=True)
    spread = high - low
    q = torch.where(
        spread > 0,
        (scores - low) / spread.clamp_min(1e-30),
        torch.full_like(scores, 0.5),
    )
    return torch.where(units.included, units.to_tokens(q), torch.ones_like(q[:, :1]))


def _soft_probabilities(
    erasure: Erasure,
    layer: Module,
    retention: Tensor,
    n_samples: int,
    seed: Optional[int],
) -> Tensor:
    """(batch, n_samples + 1) target probabilities: ``n_samples`` soft erasures,
    then the erasure of every word's embedding."""
    with torch.no_grad():
        _, embeddings = forward_with_layer_output(
            erasure.forward_func, layer, erasure.inputs, erasure.args
        )
    check_layer_output(embeddings, erasure.inputs)
    batch, tokens, hidden = embeddings.shape
    device = embeddings.device
    draws = torch.stack(
        [
            torch.rand(
                (n_samples, tokens, hidden),
                generator=example_generator(seed, device),
                device=device,
            )
            for _ in range(batch)
        ]
    )
    keep = draws < retention.view(batch, 1, tokens, 1)
    everything_erased = (~erasure.units.included).view(batch, 1, tokens, 1)
    keep = torch.cat([keep, everything_erased.expand(-1, 1, -1, hidden)], dim=1)
    per_example = n_samples + 1

    def layer_rows(rows: Tensor) -> Tensor:
        example, sample = rows // per_example, rows % per_example
        return embeddings[example] * keep[example, sample].to(embeddings.dtype)

    with torch.no_grad():
        output = evaluate_rows(
            erasure.forward_func,
            erasure.inputs,
            erasure.args,
            torch.arange(batch, device=device).repeat_interleave(per_example),
            None,
            erasure.internal_batch_size,
            erasure.show_progress,
            "soft erasure",
            layer=layer,
            layer_rows=layer_rows,
        )
    probabilities = to_probabilities(output, erasure.output)
    target = erasure.target.repeat_interleave(per_example)
    chosen = select_target(probabilities, target)
    return chosen.view(batch, per_example)


def _soft_metric(
    erasure: Erasure,
    layer: Module,
    n_samples: int,
    normalized: bool,
    seed: Optional[int],
    sufficiency: bool,
) -> MetricResult:
    check_int("n_samples", n_samples, 1)
    q = normalized_importance(erasure)
    retention = q if sufficiency else torch.where(erasure.units.included, 1 - q, q)
    probabilities = _soft_probabilities(erasure, layer, retention, n_samples, seed)
    p = erasure.target_probability.unsqueeze(1)
    soft, erased = probabilities[:, :-1], probabilities[:, -1:]
    kind = "sufficiency" if sufficiency else "comprehensiveness"
    if normalized:
        null = (p - erased).clamp_min(0)
        drop = (p - soft).clamp_min(0)
        ratio = (null - drop if sufficiency else drop) / null.clamp_min(1e-30)
        ratio = ratio.clamp(0.0, 1.0)
        values = torch.where(null > 0, ratio, torch.full_like(ratio, float("nan")))
        name, higher_is_better = f"soft_normalized_{kind}", True
    else:
        values = p - soft
        name, higher_is_better = f"soft_{kind}", not sufficiency
    return summarize(
        name,
        values.mean(dim=1),
        **erasure.details(
            removal="soft-embedding-dropout",
            n_samples=n_samples,
            normalized=normalized,
            seed=seed,
            higher_is_better=higher_is_better,
        ),
    )


@renamed_arguments(apply_softmax=("output", softmax_flag))
@document
def soft_comprehensiveness(
    forward_func: Callable[..., Any],
    layer: Module,
    inputs: Tensor,
    attributions: Tensor,
    *,
    n_samples: int = 1,
    normalized: bool = True,
    seed: Optional[int] = 0,
    feature_mask: Optional[Tensor] = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
    output: str = "logits",
    pool: str = "auto",
    internal_batch_size: Optional[int] = None,
    show_progress: bool = False,
) -> MetricResult:
    r"""Soft comprehensiveness: erase each word's embedding elements with
    probability equal to its normalized importance; the drop of the target's
    probability (Soft-NC when ``normalized``). Higher is better.

    Args:
        forward_func (Callable): The model's forward function.
        layer (torch.nn.Module): The embedding layer whose output is damaged,
                    e.g. ``get_embedding_layer(model)``.
        inputs (Tensor): (batch, tokens) token ids.
        attributions (Tensor): (batch, tokens) or (batch, tokens, hidden)
                    attributions from any method.
        n_samples (int): Random masks per example, averaged. Default: 1
        normalized (bool): Soft-NC (divided by the drop when every word's
                    embedding is erased, clipped to [0, 1]) or the raw drop.
                    Default: True
        seed (int, optional): Seed of the masks; an example gets the same masks
                    alone or in a batch (None: torch's global generator).
                    Default: 0
        {tail_args}
        {run_args}

    Returns:
        MetricResult ``soft_normalized_comprehensiveness`` (or
        ``soft_comprehensiveness``).
    """
    erasure = prepare_erasure(
        forward_func=forward_func,
        inputs=inputs,
        attributions=attributions,
        feature_mask=feature_mask,
        target=target,
        additional_forward_args=additional_forward_args,
        removal=None,
        output=output,
        pool=pool,
        internal_batch_size=internal_batch_size,
        show_progress=show_progress,
    )
    return _soft_metric(erasure, layer, n_samples, normalized, seed, False)


@renamed_arguments(apply_softmax=("output", softmax_flag))
@document
def soft_sufficiency(
    forward_func: Callable[..., Any],
    layer: Module,
    inputs: Tensor,
    attributions: Tensor,
    *,
    n_samples: int = 1,
    normalized: bool = True,
    seed: Optional[int] = 0,
    feature_mask: Optional[Tensor] = None,
    target: TargetType = None,
    additional_forward_args: Any = None,
    output: str = "logits",
    pool: str = "auto",
    internal_batch_size: Optional[int] = None,
    show_progress: bool = False,
) -> MetricResult:
    r"""Soft sufficiency: keep each word's embedding elements with probability
    equal to its normalized importance. ``normalized=True`` gives Soft-NS
    (higher is better); ``False`` the raw drop :math:`p(x) - p(x')` (lower is
    better).

    Args:
        forward_func (Callable): The model's forward function.
        layer (torch.nn.Module): The embedding layer whose output is damaged.
        inputs (Tensor): (batch, tokens) token ids.
        attributions (Tensor): (batch, tokens) or (batch, tokens, hidden)
                    attributions from any method.
        n_samples (int): Random masks per example, averaged. Default: 1
        normalized (bool): Soft-NS or the raw drop. Default: True
        seed (int, optional): Seed of the masks (None: torch's global
                    generator). Default: 0
        {tail_args}
        {run_args}

    Returns:
        MetricResult ``soft_normalized_sufficiency`` (or ``soft_sufficiency``).
    """
    erasure = prepare_erasure(
        forward_func=forward_func,
        inputs=inputs,
        attributions=attributions,
        feature_mask=feature_mask,
        target=target,
        additional_forward_args=additional_forward_args,
        removal=None,
        output=output,
        pool=pool,
        internal_batch_size=internal_batch_size,
        show_progress=show_progress,
    )
    return _soft_metric(erasure, layer, n_samples, normalized, seed, True)
