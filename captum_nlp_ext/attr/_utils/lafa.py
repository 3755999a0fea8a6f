"""The engine of LAFA (Zhang et al., NAACL 2022): base gradient scores
(Saliency, SmoothGrad, Integrated Gradients on a layer's output), the kernels
and the aggregation behind :class:`~captum_nlp_ext.attr.LayerLAFA`."""

from dataclasses import dataclass, replace
from typing import Any, Callable, Optional, Tuple

import torch
from captum.attr import IntegratedGradients, Saliency
from torch import Tensor
from torch.nn import Module

from captum_nlp_ext._utils.batching import (
    DEFAULT_INTERNAL_BATCH_SIZE,
    index_additional_forward_args,
    row_chunks,
)
from captum_nlp_ext._utils.hooks import (
    forward_with_layer_output,
    forward_with_layer_replaced,
)
from captum_nlp_ext._utils.random import normal_at
from captum_nlp_ext._utils.validation import check_choice
from captum_nlp_ext.attr._core.reference_index import ReferenceIndex

KERNELS = ("indicator", "rbf", "cubic", "cosine", "laplacian", "l2")
_CUBIC_SCALE = 7.0


_L2_CLIP = (0.3, 3.0)


@dataclass(frozen=True)
class BaseSettings:
    """How one :meth:`LayerLAFA.attribute` call computes base scores."""

    base: str
    n_samples: int
    stdevs: float
    n_steps: int
    internal_batch_size: Optional[int]
    show_progress: bool
    seed: Optional[int]


class LayerOutputForward:
    """``forward_func`` as a function of ``layer``'s output, so that Captum's
    input-space gradient methods act on the embedding layer:
    ``f(layer_output, inputs, *args)``."""

    def __init__(self, forward_func: Callable[..., Any], layer: Module) -> None:
        self.forward_func = forward_func
        self.layer = layer

    def __call__(self, layer_output: Tensor, inputs: Tensor, *args: Any) -> Tensor:
        return forward_with_layer_replaced(
            self.forward_func, self.layer, inputs, args, layer_output
        )


def base_gradients(
    forward: LayerOutputForward,
    inputs: Tensor,
    args: Tuple,
    embeddings: Tensor,
    target: Optional[Tensor],
    rows: Tensor,
    settings: BaseSettings,
) -> Tensor:
    """Saliency gradients, or Integrated Gradients attributions, of some rows."""
    row_args = (inputs[rows], *index_additional_forward_args(args, rows, len(inputs)))
    row_target = None if target is None else target[rows]
    if settings.base == "saliency":
        return Saliency(forward).attribute(
            embeddings[rows].requires_grad_(),
            target=row_target,
            abs=False,
            additional_forward_args=row_args,
        )
    return IntegratedGradients(forward).attribute(
        embeddings[rows],
        baselines=0.0,
        target=row_target,
        additional_forward_args=row_args,
        n_steps=settings.n_steps,
        internal_batch_size=settings.internal_batch_size or DEFAULT_INTERNAL_BATCH_SIZE,
    )


def smoothgrad_gradients(
    forward: LayerOutputForward,
    inputs: Tensor,
    args: Tuple,
    embeddings: Tensor,
    attention_mask: Tensor,
    target: Optional[Tensor],
    settings: BaseSettings,
) -> Tensor:
    """Mean gradient over ``n_samples`` noisy copies of each row's embeddings.

    The noise is drawn here rather than by Captum's NoiseTunnel so that it is
    seeded per copy (an example gets the same noise alone or in a batch) and
    scaled per example, relative to its embedding range.
    """
    rows, tokens, hidden = embeddings.shape
    attended = (attention_mask > 0).unsqueeze(-1)
    high = embeddings.masked_fill(~attended, float("-inf")).amax((1, 2))
    low = embeddings.masked_fill(~attended, float("inf")).amin((1, 2))
    scale = settings.stdevs * (high - low)
    total = torch.zeros_like(embeddings)
    for copies in row_chunks(
        rows * settings.n_samples,
        settings.internal_batch_size,
        settings.show_progress,
        "LAFA smoothgrad",
        inputs.device,
    ):
        example = copies // settings.n_samples
        seeds = (
            None
            if settings.seed is None
            else [settings.seed + 1 + s for s in (copies % settings.n_samples).tolist()]
        )
        noise = normal_at(attended[example, :, 0], hidden, seeds, embeddings)
        noisy = embeddings[example] + scale[example].view(-1, 1, 1) * noise
        noisy.requires_grad_()
        gradients = Saliency(forward).attribute(
            noisy,
            target=None if target is None else target[example],
            abs=False,
            additional_forward_args=(
                inputs[example],
                *index_additional_forward_args(args, example, rows),
            ),
        )
        total.index_add_(0, example, gradients)
    return total / settings.n_samples


def kernel_matrix(
    kernel: str,
    queries: Tensor,
    keys: Tensor,
    query_ids: Tensor,
    key_ids: Tensor,
    length_scale: float = 2.0,
) -> Tensor:
    r"""LAFA's kernels between every query token and every key token.

    Args:
        kernel (str): One of :data:`KERNELS`.
        queries (Tensor): (batch, T, hidden) embeddings.
        keys (Tensor): (batch, N, hidden) embeddings.
        query_ids (Tensor): (batch, T) token ids (for ``"indicator"``).
        key_ids (Tensor): (batch, N) token ids.
        length_scale (float): :math:`l` of ``"rbf"`` and ``"laplacian"``.
                    Default: 2.0

    Returns:
        (batch, T, N) kernel values.
    """
    check_choice("kernel", kernel, KERNELS)
    if kernel == "indicator":
        return (query_ids.unsqueeze(2) == key_ids.unsqueeze(1)).to(queries.dtype)
    if kernel == "cubic":
        return (_CUBIC_SCALE * queries @ keys.transpose(1, 2)) ** 3
    if kernel == "cosine":
        unit_q = torch.nn.functional.normalize(queries, dim=-1)
        unit_k = torch.nn.functional.normalize(keys, dim=-1)
        return unit_q @ unit_k.transpose(1, 2)
    if kernel == "laplacian":
        return torch.exp(-torch.cdist(queries, keys, p=1.0) / length_scale**2)
    distance = torch.cdist(queries, keys, p=2.0)
    if kernel == "rbf":
        return torch.exp(-distance / length_scale**2)
    return 1.0 / distance.clamp(*_L2_CLIP)


def aggregate(
    scores: Tensor,
    embeddings: Tensor,
    input_ids: Tensor,
    neighbour_scores: Tensor,
    neighbour_embeddings: Tensor,
    neighbour_ids: Tensor,
    neighbour_words: Tensor,
    neighbour_valid: Tensor,
    kernel: str = "indicator",
    lam: float = 0.44,
    length_scale: float = 2.0,
) -> Tensor:
    r"""LAFA's aggregation :math:`M_t = m_{0,t} + \lambda E(w_t)`.

    Args:
        scores (Tensor): (batch, T) base scores :math:`m_0` of the texts.
        embeddings (Tensor): (batch, T, hidden) their embeddings.
        input_ids (Tensor): (batch, T) their token ids.
        neighbour_scores (Tensor): (batch, M, L) base scores of the neighbours.
        neighbour_embeddings (Tensor): (batch, M, L, hidden).
        neighbour_ids (Tensor): (batch, M, L).
        neighbour_words (Tensor): (batch, M, L) bool; the tokens that count
                    (:math:`T_i` is their number).
        neighbour_valid (Tensor): (batch, M) bool; existing neighbours.
        kernel (str): See :func:`kernel_matrix`. Default: "indicator"
        lam (float): :math:`\lambda`. Default: 0.44
        length_scale (float): See :func:`kernel_matrix`. Default: 2.0

    Returns:
        (batch, T) LAFA scores; rows without a valid neighbour keep :math:`m_0`.
    """
    words = neighbour_words & neighbour_valid.unsqueeze(-1)
    dtype = scores.dtype
    lengths = words.sum(-1, keepdim=True).clamp_min(1).to(dtype)
    count = neighbour_valid.sum(-1).clamp_min(1).to(dtype).view(-1, 1, 1)
    weights = neighbour_scores * words.to(dtype) / lengths / count
    similarity = kernel_matrix(
        kernel,
        embeddings,
        neighbour_embeddings.flatten(1, 2),
        input_ids,
        neighbour_ids.flatten(1, 2),
        length_scale,
    )
    expected = torch.einsum("btn,bn->bt", similarity, weights.flatten(1))
    return scores + lam * expected


def normalized(scores: Tensor, mask: Tensor) -> Tensor:
    """Scores divided by their sum over ``mask`` (each row); zero outside it."""
    kept = scores * mask.to(scores.dtype)
    total = kept.sum(-1, keepdim=True)
    return kept / torch.where(total > 0, total, torch.ones_like(total))


def reference_scores(
    forward_func: Callable[..., Any],
    layer: Module,
    index: ReferenceIndex,
    indices: Tensor,
    target: Optional[Tensor],
    settings: BaseSettings,
    normalize: bool,
) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Base scores, embeddings, ids and word masks of every example's
    neighbours (``indices``, positions in ``index``), each distinct (text,
    target) pair computed once; with ``normalize`` each text's scores are
    divided by their sum over its words.

    Returns:
        (batch, M, L) scores, (batch, M, L, hidden) embeddings, (batch, M, L)
        ids, (batch, M, L) word mask and (batch, M) validity.
    """
    valid = indices >= 0
    classes = 1 if target is None else int(target.max()) + 1
    query_target = (
        torch.zeros_like(indices)
        if target is None
        else target.unsqueeze(1).expand_as(indices)
    )
    keys = indices.clamp(min=0) * classes + query_target
    unique, inverse = torch.unique(keys[valid], return_inverse=True)
    pool_rows, row_target = unique // classes, unique % classes
    ids, mask, words = index.gather(pool_rows.to(index.input_ids.device))
    ids, mask, words = (t.to(indices.device) for t in (ids, mask, words))
    row_target = None if target is None else row_target.to(indices.device)
    scores = torch.zeros(ids.shape, device=ids.device)
    embeddings: Optional[Tensor] = None
    # Texts of similar length share a pass, cut to the columns they attend:
    # reference texts dominate LAFA's cost, and padding would waste it.
    order = mask.sum(1).argsort()
    quiet = replace(settings, show_progress=False)
    for rows in row_chunks(
        ids.shape[0],
        settings.internal_batch_size,
        settings.show_progress,
        "LAFA references",
        ids.device,
    ):
        rows = order[rows]
        columns = mask[rows].any(0).nonzero().flatten()
        span = slice(int(columns[0]), int(columns[-1]) + 1)
        chunk_ids, chunk_mask = ids[rows, span], mask[rows, span]
        with torch.no_grad():
            chunk_embeddings = forward_with_layer_output(
                forward_func, layer, chunk_ids, (chunk_mask,)
            )[1]
        if embeddings is None:
            embeddings = chunk_embeddings.new_zeros(
                *ids.shape, chunk_embeddings.shape[-1]
            )
        embeddings[rows, span] = chunk_embeddings
        scores[rows, span] = base_scores(
            forward_func,
            layer,
            chunk_ids,
            (chunk_mask,),
            chunk_embeddings,
            chunk_mask,
            None if row_target is None else row_target[rows],
            quiet,
        ).to(scores.dtype)
    assert embeddings is not None
    if normalize:
        scores = normalized(scores, words)
    slot = torch.zeros_like(indices)
    slot[valid] = inverse
    return (
        scores[slot],
        embeddings[slot],
        ids[slot],
        words[slot] & valid.unsqueeze(-1),
        valid,
    )


def base_scores(
    forward_func: Callable[..., Any],
    layer: Module,
    inputs: Tensor,
    args: Tuple,
    embeddings: Tensor,
    attention_mask: Tensor,
    target: Optional[Tensor],
    settings: BaseSettings,
) -> Tensor:
    """(rows, tokens) squared gradient norms of the base method."""
    forward = LayerOutputForward(forward_func, layer)
    if settings.base == "smoothgrad":
        gradients = smoothgrad_gradients(
            forward, inputs, args, embeddings, attention_mask, target, settings
        )
    else:
        gradients = torch.cat(
            [
                base_gradients(
                    forward, inputs, args, embeddings, target, rows, settings
                )
                for rows in row_chunks(
                    inputs.shape[0],
                    settings.internal_batch_size,
                    settings.show_progress,
                    f"LAFA {settings.base}",
                    inputs.device,
                )
            ]
        )
    return gradients.pow(2).sum(-1)
