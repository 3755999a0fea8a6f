"""Rationale and dataset consistency (Atanasova, Simonsen, Lioma and
Augenstein, "A Diagnostic Study of Explainability Techniques for Text
Classification", EMNLP 2020).

Both ask whether explanations differ where the model's computation differs:
the Spearman correlation, over pairs, between the distance of the activations
and the distance of the attributions. Rationale consistency pairs models on
the same inputs (seeds of a training run, randomly initialized models);
dataset consistency pairs inputs for one model (similar and dissimilar
instances, see :func:`consistency_pairs`). Higher is better.
"""

from itertools import combinations
from typing import Any, Callable, Optional, Sequence

import torch
from torch import Tensor

from captum_nlp_ext._utils.batching import row_chunks
from captum_nlp_ext._utils.deprecation import keyword_only_after, renamed_arguments
from captum_nlp_ext._utils.units import build_units
from captum_nlp_ext._utils.validation import (
    check_inputs,
    check_int,
    check_optional_int,
    format_additional_forward_args,
)
from captum_nlp_ext.metrics._consistency import (
    layer_names as _layer_names,
    mean_over,
    model_of_argument,
    pair_activation_distances,
    pooled_activations,
    vocabulary_distance,
)
from captum_nlp_ext.metrics._result import MetricResult
from captum_nlp_ext.metrics._stats import masked_spearman
from captum_nlp_ext.metrics._words import word_scores


@renamed_arguments(layers="layer_names")
@keyword_only_after(3)
def rationale_consistency(
    forward_funcs: Sequence[Callable[..., Any]],
    inputs: Tensor,
    attributions: Sequence[Tensor],
    *,
    additional_forward_args: Any = None,
    feature_mask: Optional[Tensor] = None,
    layer_names: Optional[Sequence[str]] = None,
    pool: str = "auto",
    internal_batch_size: Optional[int] = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> MetricResult:
    r"""Rationale consistency: across every pair of models and every example,
    the Spearman correlation between the models' activation distance and their
    attribution distance on that example.

    Activation distance (our reading; the paper's code averages signed
    differences, which cancel): for each layer, the mean absolute difference of
    the two models' outputs over the hidden units and the tokens of
    ``feature_mask``'s words (all tokens without one), averaged over the
    layers. Attribution distance: the mean absolute difference of the two
    models' word scores.

    ``mean`` is the paper's statistic, the correlation pooled over all
    (pair, example) points, with a bootstrap interval that resamples examples
    (all pairs of an example together); ``per_example`` holds each example's
    correlation across the model pairs (NaN with fewer than three pairs or
    constant distances), so ``mean`` is not their average; ``n`` counts the examples.

    Args:
        forward_funcs (list of Callable): Two or more models' forward functions
                    (same architecture, e.g. training seeds and randomly
                    initialized models); each must be a module or wrap one (a
                    bound method or an object with a ``model`` attribute, such
                    as :class:`~captum_nlp_ext.huggingface.ClassifierForward`).
        inputs (Tensor): Token ids (batch, tokens) or embeddings
                    (batch, tokens, hidden), the same for every model.
        attributions (list of Tensor): One per model, (batch, tokens) or
                    (batch, tokens, hidden), for the same target.
        additional_forward_args (Any, optional): Further positional arguments of
                    every ``forward_func``. Default: None
        feature_mask (Tensor, optional): Word ids; negative ids exclude a token.
                    Default: None (every token is a word)
        layer_names (list of str, optional): Names of the modules (as in
                    ``model.named_modules()``) whose outputs are compared, in
                    every model. Default: None (each block of the encoder and
                    the model's output, as the paper)
        pool (str): Pooling of token scores into words (see
                    :func:`~captum_nlp_ext.metrics.auprc`). Default: "auto"
        internal_batch_size (int, optional): Rows per forward pass (one row
                    an example here).
                    Default: None (64)
        n_bootstrap (int): Resamples of the interval. Default: 1000
        seed (int): Seed of the resampling. Default: 0

    Returns:
        MetricResult named ``"rationale_consistency"``.
    """
    inputs = check_inputs(inputs)
    if len(forward_funcs) < 2 or len(attributions) != len(forward_funcs):
        raise ValueError(
            "`forward_funcs` must hold at least two models and `attributions` one "
            f"tensor per model; got {len(forward_funcs)} and {len(attributions)}."
        )
    check_optional_int("internal_batch_size", internal_batch_size, 1)
    check_int("n_bootstrap", n_bootstrap, 1)
    models = [model_of_argument("forward_funcs", f) for f in forward_funcs]
    names = _layer_names(models[0], layer_names)
    pairs = list(combinations(range(len(models)), 2))
    scores = [
        word_scores(a, feature_mask, pool, name=f"attributions[{m}]")
        for m, a in enumerate(attributions)
    ]
    valid = scores[0][1].valid
    if any(s.shape != scores[0][0].shape for s, _ in scores):
        raise ValueError("`attributions` must all have the shape of the inputs.")
    attribution_distance = torch.stack(
        [mean_over((scores[i][0] - scores[j][0]).abs(), valid) for i, j in pairs],
        dim=1,
    )
    tokens = build_units(
        feature_mask, inputs.shape[0], inputs.shape[1], inputs.device
    ).included
    args = format_additional_forward_args(additional_forward_args, inputs)
    activation_distance = torch.cat(
        [
            pair_activation_distances(
                forward_funcs, models, names, pairs, inputs, args, tokens, rows
            )
            for rows in row_chunks(
                inputs.shape[0], internal_batch_size, False, "", inputs.device
            )
        ]
    )
    per_example = masked_spearman(
        activation_distance,
        attribution_distance.to(activation_distance.device),
        torch.full_like(activation_distance, len(pairs) >= 3, dtype=torch.bool),
    )
    return _pooled_result(
        "rationale_consistency",
        activation_distance,
        attribution_distance.to(activation_distance.device),
        per_example,
        n_bootstrap,
        seed,
        layers=names,
        pairs=len(pairs),
    )


@renamed_arguments(layers="layer_names")
@keyword_only_after(4)
def dataset_consistency(
    forward_func: Callable[..., Any],
    inputs: Tensor,
    attributions: Tensor,
    pairs: Tensor,
    *,
    additional_forward_args: Any = None,
    feature_mask: Optional[Tensor] = None,
    layer_names: Optional[Sequence[str]] = None,
    pool: str = "auto",
    internal_batch_size: Optional[int] = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
) -> MetricResult:
    r"""Dataset consistency: across pairs of inputs, the Spearman correlation
    between the model's activation distance and the attribution distance.

    Activation distance: for each layer, the output mean-pooled over the
    tokens of ``feature_mask``'s words (all tokens without one), the mean
    absolute difference of the two inputs' vectors, averaged over the layers.
    Attribution distance, as the paper aligns different texts by vocabulary:
    each token id present in either input gets the score of its word (the mean
    over its occurrences; 0 when absent from one input) and the distance is the
    mean absolute difference over those ids.

    ``mean`` is the correlation over all pairs (the paper's statistic), with a
    bootstrap interval that resamples pairs; ``per_example`` holds, for each
    input, the correlation over the pairs it belongs to (NaN with fewer than
    three), so ``mean`` is not their average; ``n`` counts the pairs.

    Args:
        forward_func (Callable): The model's forward function, a module or a
                    wrapper of one (see :func:`rationale_consistency`).
        inputs (Tensor): Token ids (batch, tokens).
        attributions (Tensor): (batch, tokens) or (batch, tokens, hidden).
        pairs (Tensor): (pairs, 2) indices of paired examples, e.g. from
                    :func:`consistency_pairs`.
        additional_forward_args (Any, optional): Further positional arguments
                    of ``forward_func``. Default: None
        feature_mask (Tensor, optional): Word ids; negative ids exclude a token.
                    Default: None
        layer_names (list of str, optional): Module names whose outputs are compared.
                    Default: None (each encoder block and the model's output)
        pool (str): Pooling of token scores into words (see
                    :func:`~captum_nlp_ext.metrics.auprc`). Default: "auto"
        internal_batch_size (int, optional): Rows per forward pass (one row
                    an example here).
                    Default: None (64)
        n_bootstrap (int): Resamples of the interval. Default: 1000
        seed (int): Seed of the resampling. Default: 0

    Returns:
        MetricResult named ``"dataset_consistency"``.
    """
    inputs = check_inputs(inputs)
    if inputs.is_floating_point():
        raise TypeError(
            "`inputs` must be token ids: dataset consistency aligns the words of "
            "different inputs by their ids."
        )
    check_optional_int("internal_batch_size", internal_batch_size, 1)
    check_int("n_bootstrap", n_bootstrap, 1)
    batch = inputs.shape[0]
    pairs = _check_pairs(pairs, batch).to(inputs.device)
    model = model_of_argument("forward_func", forward_func)
    names = _layer_names(model, layer_names)
    scores, units = word_scores(attributions, feature_mask, pool)
    if units.index.shape != inputs.shape:
        raise ValueError("`attributions` must have the shape of `inputs`.")
    token_scores = units.to_tokens(scores)
    attribution_distance = vocabulary_distance(
        inputs, token_scores, units.included, pairs
    )
    args = format_additional_forward_args(additional_forward_args, inputs)
    pooled = [
        torch.cat(per_layer)
        for per_layer in zip(
            *[
                pooled_activations(
                    forward_func, model, names, inputs, args, units.included, rows
                )
                for rows in row_chunks(
                    batch, internal_batch_size, False, "", inputs.device
                )
            ]
        )
    ]
    activation_distance = torch.stack(
        [(v[pairs[:, 0]] - v[pairs[:, 1]]).abs().mean(dim=1) for v in pooled]
    ).mean(dim=0)
    examples = torch.arange(batch, device=pairs.device).unsqueeze(1)
    member = (pairs[:, 0] == examples) | (pairs[:, 1] == examples)
    member &= member.sum(dim=1, keepdim=True) >= 3
    per_example = masked_spearman(
        activation_distance.expand(batch, -1),
        attribution_distance.expand(batch, -1),
        member,
    )
    return _pooled_result(
        "dataset_consistency",
        activation_distance.unsqueeze(1),
        attribution_distance.unsqueeze(1),
        per_example,
        n_bootstrap,
        seed,
        layers=names,
        pairs=pairs.shape[0],
    )


@keyword_only_after(3)
def consistency_pairs(
    inputs: Tensor,
    labels: Tensor,
    n_pairs: int,
    *,
    feature_mask: Optional[Tensor] = None,
    seed: int = 0,
) -> Tensor:
    """Pairs of similar and dissimilar inputs for :func:`dataset_consistency`,
    selected as in the paper's code: half are the pairs with the same label
    that share the most distinct token ids (at least one), half are drawn at
    random among the 2.5 times as many pairs with different labels that share
    the fewest.

    The paper ignores stop words; exclude them (and specials, padding) with
    negative ids in ``feature_mask``.

    Args:
        inputs (Tensor): Token ids (batch, tokens).
        labels (Tensor): (batch,) classes.
        n_pairs (int): Pairs to return, >= 2 (fewer when too few exist).
        feature_mask (Tensor, optional): Tokens with a negative id do not count.
                    Default: None (every token counts)
        seed (int): Seed of the draw of dissimilar pairs. Default: 0

    Returns:
        (pairs, 2) long tensor of example indices, similar pairs first.
    """
    inputs = check_inputs(inputs)
    check_int("n_pairs", n_pairs, 2)
    batch = inputs.shape[0]
    if not isinstance(labels, Tensor) or labels.shape != (batch,):
        raise ValueError(f"`labels` must be a tensor of {batch} classes.")
    labels = labels.to(inputs.device)
    included = build_units(feature_mask, batch, inputs.shape[1], inputs.device).included
    # Ids are renumbered over those in the batch so the presence table stays
    # (batch, distinct ids) rather than (batch, vocabulary).
    ids, compact = torch.unique(inputs[included], return_inverse=True)
    rows = torch.arange(batch, device=inputs.device).unsqueeze(1).expand_as(inputs)
    present = torch.zeros(batch, ids.numel(), device=inputs.device)
    present[rows[included], compact] = 1
    shared = present @ present.T
    first, second = torch.triu_indices(batch, batch, offset=1, device=inputs.device)
    overlap = shared[first, second]
    same = labels[first] == labels[second]
    similar = torch.nonzero(same & (overlap >= 1)).squeeze(1)
    similar = similar[overlap[similar].argsort(descending=True, stable=True)]
    similar = similar[: n_pairs // 2]
    different = torch.nonzero(~same).squeeze(1)
    different = different[overlap[different].argsort(stable=True)]
    pool = different[: int(2.5 * (n_pairs - similar.numel()))]
    generator = torch.Generator().manual_seed(seed)
    draw = torch.randperm(pool.numel(), generator=generator)[
        : n_pairs - similar.numel()
    ]
    chosen = torch.cat([similar, pool[draw.to(pool.device)]])
    return torch.stack([first[chosen], second[chosen]], dim=1)


def _check_pairs(pairs: Any, batch: int) -> Tensor:
    if (
        not isinstance(pairs, Tensor)
        or pairs.dim() != 2
        or pairs.shape[1] != 2
        or pairs.is_floating_point()
        or pairs.shape[0] < 2
    ):
        raise ValueError(
            "`pairs` must be an integer tensor of shape (pairs, 2) with at least two "
            "pairs."
        )
    if bool((pairs < 0).any() | (pairs >= batch).any()):
        raise ValueError(f"`pairs` must index examples in [0, {batch - 1}].")
    return pairs.long()


def _pooled_result(
    name: str,
    x: Tensor,
    y: Tensor,
    per_example: Tensor,
    n_bootstrap: int,
    seed: int,
    **details: Any,
) -> MetricResult:
    """Spearman over every point of (groups, points) distances, with a
    percentile bootstrap interval over groups."""
    groups = x.shape[0]
    flat_valid = torch.ones(1, x.numel(), dtype=torch.bool, device=x.device)
    pooled = float(masked_spearman(x.reshape(1, -1), y.reshape(1, -1), flat_valid)[0])
    generator = torch.Generator().manual_seed(seed)
    draws = []
    for start in range(0, n_bootstrap, 100):
        count = min(100, n_bootstrap - start)
        picks = torch.randint(0, groups, (count, groups), generator=generator).to(
            x.device
        )
        rx, ry = x[picks].reshape(count, -1), y[picks].reshape(count, -1)
        draws.append(masked_spearman(rx, ry, torch.ones_like(rx, dtype=torch.bool)))
    resampled = torch.cat(draws)
    resampled = resampled[~resampled.isnan()]
    if resampled.numel():
        low, high = torch.quantile(
            resampled, torch.tensor([0.025, 0.975], dtype=resampled.dtype)
        ).tolist()
    else:
        low = high = pooled
    defined = per_example[~per_example.isnan()]
    return MetricResult(
        name,
        per_example.detach().cpu(),
        pooled,
        low,
        high,
        groups,
        dict(
            details,
            mean_is="Spearman correlation pooled over all points",
            per_example_mean=float(defined.mean()) if defined.numel() else float("nan"),
        ),
    )
